// Decompositions: argument checks, batch shapes, empty inputs and LAPACK error reporting here; the
// per-matrix LAPACK calls in the backend.
// Backward beside each forward, following PyTorch's FunctionsManual formulas (svd_backward,
// linalg_qr_backward, cholesky_backward, linalg_eig_backward for the symmetric case, and for solve
// dB = solve(A^T, dX), dA = -dB X^T), written with differentiable ops so double backward works.
#include "moelab/ops/linalg_decomp.h"

#include <vector>

#include "moelab/autograd/function.h"
#include "moelab/backends/linalg_kernels.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/linalg.h"
#include "moelab/ops/op_helpers.h"
#include "moelab/ops/reduce.h"
#include "moelab/ops/shape_ops.h"

namespace moelab::linalg {
using detail::backend_of;

namespace {

// A defined f32/f64 stack of matrices (square when asked).
void check_matrix(const Tensor& a, const char* op, bool square, const char* arg = "A") {
  detail::check_defined(a, op, arg);
  MOELAB_CHECK(a.dtype() == kF32 || a.dtype() == kF64, op, ": ", arg, " must be f32 or f64, got ", a.dtype(),
               " (shape ", a.shape(), ")");
  MOELAB_CHECK(a.dim() >= 2, op, ": ", arg, " must have at least 2 dims [..., rows, cols], got shape ", a.shape());
  MOELAB_CHECK(!square || a.size(-1) == a.size(-2), op, ": ", arg,
               " must be a batch of square matrices, got shape ", a.shape());
}

Shape batch_shape(const Tensor& a, int trailing = 2) {
  Shape s;
  for (int d = 0; d < a.dim() - trailing; ++d) s.push_back(a.size(d));
  return s;
}

Shape with(Shape s, std::initializer_list<int64_t> tail) {
  for (int64_t x : tail) s.push_back(x);
  return s;
}

// Identity matrices [..., rows, cols] (what PyTorch returns for the vectors of an empty input).
Tensor batched_eye(const Shape& batch, int64_t rows, int64_t cols, DType dtype, Device device) {
  return eye(rows, cols, TensorOptions(dtype, device)).expand(with(batch, {rows, cols})).contiguous();
}

// Turns LAPACK's per-matrix info into an error: info > 0 means `what(info)` for that matrix.
template <class What>
void check_info(const Tensor& info, const char* op, What what) {
  const std::vector<int32_t> v = info.to_vector<int32_t>();
  for (size_t i = 0; i < v.size(); ++i) {
    MOELAB_CHECK(v[i] >= 0, op, ": internal error: LAPACK rejected argument ", -v[i]);
    MOELAB_CHECK(v[i] == 0, op, ": ", what(v[i]), v.size() > 1 ? " (batch element " : "",
                 v.size() > 1 ? std::to_string(i) + ")" : std::string());
  }
}

Tensor make_info(const Tensor& a, int trailing = 2) { return make_empty(batch_shape(a, trailing), kI32, a.device()); }

// ---- Helpers for the backward formulas: differentiable in their tensor arguments; the masks and
// identities they multiply by are constants.
using autograd::FunctionNode;
using autograd::SavedVariable;

Tensor mT(const Tensor& x) { return x.transpose(-2, -1); }

// True when a gradient is all zeros (the engine's stand-in for an output that was not used): the
// formulas then drop the vector terms, which divide by eigenvalue gaps that may be zero.
bool all_zero(const Tensor& g) {
  autograd::NoGradGuard no_grad;
  return g.numel() == 0 || !any(g != 0.0).item<bool>();
}

Tensor identity(int64_t n, const Tensor& like) { return eye(n, TensorOptions(like.dtype(), like.device())); }

// [n, n]: ones strictly below the diagonal, `diag` on it (so x * mask is tril(x) with a scaled diagonal).
Tensor lower_mask(int64_t n, double diag, const Tensor& like) {
  autograd::NoGradGuard no_grad;
  return tril(ones({n, n}, TensorOptions(like.dtype(), like.device())), -1) + identity(n, like) * diag;
}

// [..., n] -> [..., n, n] with v on the diagonal.
Tensor diag_embed(const Tensor& v) { return v.unsqueeze(-1) * identity(v.size(-1), v); }

// X R^{-T} for an invertible R (solve on the transposed system).
Tensor solve_right_transposed(const Tensor& X, const Tensor& R) { return mT(solve(R, mT(X))); }

// E[j, k] = x[k] - x[j] off the diagonal, 1 on it: the denominators of the spectral backward formulas.
Tensor gap_matrix(const Tensor& x) {
  return x.unsqueeze(-2) - x.unsqueeze(-1) + identity(x.size(-1), x);
}

// The gradient of A for the thin SVD A = U diag(S) Vh (distinct singular values), as PyTorch's
// svd_backward:
//   gA = U [(skew(U^T gU) S + S skew(V^T gV)) / E + diag(gS)] Vh
//        + (I - U U^T) gU S^{-1} Vh + U S^{-1} gV^T (I - V V^T)
// with skew(X) = X - X^T and E[j, k] = S_k^2 - S_j^2 (1 on the diagonal).
Tensor svd_backward(const Tensor& gU, const Tensor& gS, const Tensor& gVh, const Tensor& U, const Tensor& S,
                    const Tensor& Vh) {
  const int64_t m = U.size(-2), n = Vh.size(-1);
  if (all_zero(gU) && all_zero(gVh)) return matmul(U * gS.unsqueeze(-2), Vh);  // values only
  const Tensor gV = mT(gVh);
  Tensor UtgU = matmul(mT(U), gU), VtgV = matmul(Vh, gV);
  UtgU = UtgU - mT(UtgU);
  VtgV = VtgV - mT(VtgV);
  const Tensor core = (UtgU * S.unsqueeze(-2) + S.unsqueeze(-1) * VtgV) / gap_matrix(S * S) + diag_embed(gS);
  if (m > n) {
    const Tensor gU_sinv = gU / S.unsqueeze(-2);
    const Tensor left = matmul(U, core) + gU_sinv - matmul(U, matmul(mT(U), gU_sinv));
    return matmul(left, Vh);
  }
  if (m < n) {
    const Tensor gV_sinv_t = mT(gV / S.unsqueeze(-2));
    const Tensor right = matmul(core, Vh) + gV_sinv_t - matmul(matmul(gV_sinv_t, mT(Vh)), Vh);
    return matmul(U, right);
  }
  return matmul(matmul(U, core), Vh);
}

// The gradient of a symmetric A = V diag(L) V^T (distinct eigenvalues), as PyTorch's
// linalg_eig_backward for Hermitian input: gA = V [skew(V^T gV) / (2 E) + diag(gL)] V^T with
// E[j, k] = L_k - L_j (1 on the diagonal). gV all zero: eigenvalues only.
Tensor eigh_backward(const Tensor& gL, const Tensor& gV, const Tensor& L, const Tensor& V) {
  Tensor inner = diag_embed(gL);
  if (!all_zero(gV)) {
    const Tensor VtgV = matmul(mT(V), gV);
    inner = inner + (VtgV - mT(VtgV)) * 0.5 / gap_matrix(L);
  }
  return matmul(matmul(V, inner), mT(V));
}

// The gradient of A = Q R for square R (m >= n, reduced): with M = R gR^T - gQ^T Q,
//   gA = (gQ + Q copyltu(M)) R^{-T},  copyltu(M) = tril(M) + tril(M, -1)^T.
Tensor qr_backward_tall(const Tensor& gQ, const Tensor& gR, const Tensor& Q, const Tensor& R) {
  const int64_t n = R.size(-1);
  const Tensor M = matmul(R, mT(gR)) - matmul(mT(gQ), Q);
  const Tensor below = M * lower_mask(n, 0.0, M);
  const Tensor copyltu = below + mT(below) + M * identity(n, M);
  return solve_right_transposed(gQ + matmul(Q, copyltu), R);
}

// SVD with or without vectors; U/Vh stay undefined in the values-only case.
SVDResult svd_impl(const Tensor& A, bool full_matrices, bool vectors, const char* op) {
  check_matrix(A, op, false);
  const Shape batch = batch_shape(A);
  const int64_t m = A.size(-2), n = A.size(-1), k = std::min(m, n);
  const DType t = A.dtype();
  SVDResult r;
  r.S = make_empty(with(batch, {k}), t, A.device());
  if (vectors) {
    r.U = make_empty(with(batch, {m, full_matrices ? m : k}), t, A.device());
    r.Vh = make_empty(with(batch, {full_matrices ? n : k, n}), t, A.device());
  }
  if (k == 0) {  // no singular values; full vectors are identities, as in PyTorch
    if (vectors && full_matrices) {
      r.U = batched_eye(batch, m, m, t, A.device());
      r.Vh = batched_eye(batch, n, n, t, A.device());
    }
    return r;
  }
  if (A.numel() == 0) return r;
  Tensor info = make_info(A);
  backend_of(A).linalg().svd(A, r.U, r.S, r.Vh, full_matrices, info);
  check_info(info, op, [](int) { return "the SVD did not converge (is the input finite?)"; });
  return r;
}

EighResult eigh_impl(const Tensor& A, std::string_view uplo, bool vectors, const char* op) {
  check_matrix(A, op, true);
  MOELAB_CHECK(uplo == "L" || uplo == "U", op, ": UPLO must be \"L\" or \"U\", got \"", uplo, "\"");
  const int64_t n = A.size(-1);
  EighResult r;
  r.eigenvalues = make_empty(with(batch_shape(A), {n}), A.dtype(), A.device());
  if (vectors) r.eigenvectors = make_empty(A.shape(), A.dtype(), A.device());
  if (A.numel() == 0) return r;
  Tensor info = make_info(A);
  backend_of(A).linalg().eigh(A, r.eigenvalues, r.eigenvectors, uplo == "L", info);
  check_info(info, op, [](int) { return "the eigenvalue algorithm did not converge (is the input finite?)"; });
  return r;
}

}  // namespace

namespace {
// Records the SVD's backward (also svdvals', whose U and Vh then get zero gradients, so that the
// values-only formula runs and double backward still sees U and Vh as functions of A).
void record_svd(const Tensor& A, SVDResult& r, const char* name) {
  // As PyTorch: with full_matrices only the first k columns of U (rows of Vh) get a gradient.
  const Shape a_shape = A.shape();
  const int64_t k = r.S.size(-1);
  autograd::record_op(
      name, {&A}, {&r.U, &r.S, &r.Vh},
      {SavedVariable(r.U, true, 0), SavedVariable(r.S, true, 1), SavedVariable(r.Vh, true, 2)},
      [a_shape, k](FunctionNode::Context& c, const std::vector<Tensor>& g) {
        if (k == 0) return std::vector<Tensor>{zeros(a_shape, TensorOptions(g[1].dtype(), g[1].device()))};
        const Tensor U = c.saved(0).narrow(-1, 0, k), Vh = c.saved(2).narrow(-2, 0, k);
        return std::vector<Tensor>{
            svd_backward(g[0].narrow(-1, 0, k), g[1], g[2].narrow(-2, 0, k), U, c.saved(1), Vh)};
      });
}
}  // namespace

SVDResult svd(const Tensor& A, bool full_matrices) {
  SVDResult r = svd_impl(A, full_matrices, true, "linalg.svd");
  if (autograd::needs_grad({&A})) record_svd(A, r, "linalg.svd");
  return r;
}

Tensor svdvals(const Tensor& A) {
  if (!autograd::needs_grad({&A})) return svd_impl(A, false, false, "linalg.svdvals").S;
  // The gradient needs the vectors: gA = U diag(gS) Vh.
  SVDResult r = svd_impl(A, false, true, "linalg.svdvals");
  record_svd(A, r, "linalg.svdvals");
  return r.S;
}

namespace {
QRResult qr_impl(const Tensor& A, std::string_view mode) {
  check_matrix(A, "linalg.qr", false);
  MOELAB_CHECK(mode == "reduced" || mode == "complete" || mode == "r", "linalg.qr: mode must be \"reduced\", ",
               "\"complete\" or \"r\", got \"", mode, "\"");
  const bool complete = mode == "complete";
  const Shape batch = batch_shape(A);
  const int64_t m = A.size(-2), n = A.size(-1), k = std::min(m, n);
  const int64_t qcols = complete ? m : k, rrows = complete ? m : k;
  QRResult r;
  r.R = make_empty(with(batch, {rrows, n}), A.dtype(), A.device());
  r.Q = mode == "r" ? make_empty({0}, A.dtype(), A.device()) : make_empty(with(batch, {m, qcols}), A.dtype(), A.device());
  if (k == 0) {  // R is all zeros; Q the identity
    r.R.zero_();
    if (mode != "r") r.Q = batched_eye(batch, m, qcols, A.dtype(), A.device());
    return r;
  }
  if (A.numel() == 0) return r;
  backend_of(A).linalg().qr(A, mode == "r" ? Tensor() : r.Q, r.R, complete);
  return r;
}
}  // namespace

QRResult qr(const Tensor& A, std::string_view mode) {
  QRResult r = qr_impl(A, mode);
  if (!autograd::needs_grad({&A})) return r;
  const int64_t m = A.size(-2), n = A.size(-1);
  // PyTorch's limits: the gradient needs Q, and is not unique for complete mode with m > n.
  const char* refusal = mode == "r" ? "linalg.qr: the derivative depends on Q, which mode \"r\" does not compute; "
                                      "use mode \"reduced\" to differentiate through linalg.qr"
                        : mode == "complete" && m > n
                            ? "linalg.qr: the derivative is not defined for mode \"complete\" with more rows "
                              "than columns; use mode \"reduced\""
                            : nullptr;
  autograd::record_op(
      "linalg.qr", {&A}, {&r.Q, &r.R}, {SavedVariable(r.Q, true, 0), SavedVariable(r.R, true, 1)},
      [refusal, m, n](FunctionNode::Context& c, const std::vector<Tensor>& g) {
        MOELAB_CHECK(refusal == nullptr, refusal);
        const Tensor Q = c.saved(0), R = c.saved(1);
        if (m >= n) return std::vector<Tensor>{qr_backward_tall(g[0], g[1], Q, R)};
        // Wide: A = Q [R1 R2] = [X Y] with X = Q R1 square. Y = Q R2 moves Q too: its gradient
        // gQ += Y gR2^T joins the square case for X, and gY = Q gR2.
        const Tensor R1 = R.narrow(-1, 0, m), R2 = R.narrow(-1, m, n - m);
        const Tensor gR1 = g[1].narrow(-1, 0, m), gR2 = g[1].narrow(-1, m, n - m);
        const Tensor gX = qr_backward_tall(g[0] + matmul(matmul(Q, R2), mT(gR2)), gR1, Q, R1);
        const Tensor gY = matmul(Q, gR2);
        // [gX gY] as gX @ [I 0] + gY @ [0 I] (differentiable, unlike a copy into a slice).
        const Tensor id = identity(n, Q);
        return std::vector<Tensor>{matmul(gX, id.narrow(0, 0, m)) + matmul(gY, id.narrow(0, m, n - m))};
      });
  return r;
}

namespace {
// X with A X = B (B already 2+-D); no autograd.
Tensor solve_impl(const Tensor& A, const Tensor& B2, const char* op) {
  const int64_t n = A.size(-1);
  MOELAB_CHECK(B2.size(-2) == n, op, ": A ", A.shape(), " and B ", B2.shape(), " do not match: B needs ", n,
               " rows");
  const Shape batch = broadcast_shapes(batch_shape(A), batch_shape(B2), op);
  const int64_t nrhs = B2.size(-1);
  Tensor X = make_empty(with(batch, {n, nrhs}), A.dtype(), A.device());
  if (X.numel() > 0) {
    const Tensor Ae = A.expand(with(batch, {n, n})), Be = B2.expand(with(batch, {n, nrhs}));
    Tensor info = make_info(X);
    backend_of(A).linalg().solve(Ae, Be, X, info);
    check_info(info, op, [](int i) {
      return "the input matrix is singular (U[" + std::to_string(i - 1) + ", " + std::to_string(i - 1) +
             "] of its LU factorization is exactly zero)";
    });
  } else if (n == 0) {
    X.zero_();
  }
  return X;
}
}  // namespace

Tensor solve(const Tensor& A, const Tensor& B) {
  constexpr const char* op = "linalg.solve";
  check_matrix(A, op, true);
  detail::check_defined(B, op, "B");
  detail::check_same_device({&A, &B}, op);
  MOELAB_CHECK(A.dtype() == B.dtype(), op, ": A and B must have one dtype, got ", A.dtype(), " and ", B.dtype());
  const int64_t n = A.size(-1);
  // PyTorch's rule: B is a vector when 1-D, or when its shape is A's without the last dim.
  bool vector_case = B.dim() == 1;
  if (B.dim() == A.dim() - 1) {
    Shape s = A.shape();
    s.erase(s.size() - 1);
    vector_case = vector_case || B.shape() == s;
  }
  MOELAB_CHECK(vector_case || B.dim() >= 2, op, ": B must be a vector or a stack of matrices, got shape ",
               B.shape(), " for A of shape ", A.shape());
  MOELAB_CHECK(B.dim() != 1 || B.size(0) == n, op, ": A ", A.shape(), " and B ", B.shape(),
               " do not match: B needs ", n, " rows");
  Tensor X;
  {
    autograd::NoGradGuard no_grad;
    X = solve_impl(A, vector_case ? B.unsqueeze(-1) : B, op);
    if (vector_case) X = X.squeeze(-1);
  }
  if (autograd::needs_grad({&A, &B})) {
    X.impl()->set_is_view(false);  // a fresh result, even when squeezed
    const Shape a_shape = A.shape(), b_shape = B.shape();
    autograd::record_op(
        "linalg.solve", {&A, &B}, {&X},
        {SavedVariable(A, false), A.requires_grad() ? SavedVariable(X, true) : SavedVariable()},
        [vector_case, a_shape, b_shape](FunctionNode::Context& c, const std::vector<Tensor>& g) {
          const Tensor A_ = c.saved(0);
          const Tensor g2 = vector_case ? g[0].unsqueeze(-1) : g[0];
          const Tensor gB2 = solve(mT(A_), g2);  // [batch..., n, k] over the broadcast batch
          std::vector<Tensor> r(2);
          if (c.needs_input_grad(1)) {
            Shape b2_shape = b_shape;
            if (vector_case) b2_shape.push_back(1);
            r[1] = sum_to(gB2, b2_shape).reshape(b_shape);
          }
          if (c.needs_input_grad(0)) {
            const Tensor X2 = vector_case ? c.saved(1).unsqueeze(-1) : c.saved(1);
            r[0] = sum_to(-matmul(gB2, mT(X2)), a_shape);
          }
          return r;
        });
  }
  return X;
}

Tensor inv(const Tensor& A) {
  check_matrix(A, "linalg.inv", true);
  const int64_t n = A.size(-1);
  return solve(A, batched_eye(batch_shape(A), n, n, A.dtype(), A.device()));
}

Tensor cholesky(const Tensor& A, bool upper) {
  constexpr const char* op = "linalg.cholesky";
  check_matrix(A, op, true);
  Tensor out = make_empty(A.shape(), A.dtype(), A.device());
  if (A.numel() > 0) {
    Tensor info = make_info(A);
    backend_of(A).linalg().cholesky(A, out, upper, info);
    check_info(info, op, [](int i) {
      return "the input is not positive-definite (the leading minor of order " + std::to_string(i) +
             " is not positive-definite)";
    });
  }
  if (autograd::needs_grad({&A})) {
    // Murray (2016), as PyTorch's cholesky_backward: with Phi = tril(L^T gL), its diagonal halved,
    // gA = L^{-T} Phi L^{-1}, symmetrised.
    autograd::record_op("linalg.cholesky", {&A}, {&out}, {SavedVariable(out, true)},
                        [upper](FunctionNode::Context& c, const std::vector<Tensor>& g) {
                          const Tensor L = upper ? mT(c.saved(0)) : c.saved(0);
                          const Tensor gL = upper ? mT(g[0]) : g[0];
                          const Tensor phi = matmul(mT(L), gL) * lower_mask(L.size(-1), 0.5, L);
                          const Tensor L_inv = inv(L);
                          const Tensor gA = matmul(matmul(mT(L_inv), phi), L_inv);
                          return std::vector<Tensor>{(gA + mT(gA)) * 0.5};
                        });
  }
  return out;
}

namespace {
// Records eigh's backward (also eigvalsh', whose eigenvectors then get a zero gradient).
void record_eigh(const Tensor& A, EighResult& r, const char* name) {
  autograd::record_op(name, {&A}, {&r.eigenvalues, &r.eigenvectors},
                      {SavedVariable(r.eigenvalues, true, 0), SavedVariable(r.eigenvectors, true, 1)},
                      [](FunctionNode::Context& c, const std::vector<Tensor>& g) {
                        return std::vector<Tensor>{eigh_backward(g[0], g[1], c.saved(0), c.saved(1))};
                      });
}
}  // namespace

EighResult eigh(const Tensor& A, std::string_view UPLO) {
  EighResult r = eigh_impl(A, UPLO, true, "linalg.eigh");
  if (autograd::needs_grad({&A})) record_eigh(A, r, "linalg.eigh");
  return r;
}

Tensor eigvalsh(const Tensor& A, std::string_view UPLO) {
  if (!autograd::needs_grad({&A})) return eigh_impl(A, UPLO, false, "linalg.eigvalsh").eigenvalues;
  // The gradient needs the eigenvectors: gA = V diag(gL) V^T.
  EighResult r = eigh_impl(A, UPLO, true, "linalg.eigvalsh");
  record_eigh(A, r, "linalg.eigvalsh");
  return r.eigenvalues;
}

}  // namespace moelab::linalg
