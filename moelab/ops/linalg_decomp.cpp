// Decompositions: argument checks, batch shapes, empty inputs and LAPACK error reporting here; the
// per-matrix LAPACK calls in the backend.
// Backward (later, beside each forward) follows PyTorch's FunctionsManual formulas: svd_backward,
// linalg_qr_backward, cholesky_backward, linalg_eig_backward (symmetric case), and for solve
// dB = solve(A^T, dX), dA = -dB X^T.
#include "moelab/ops/linalg_decomp.h"

#include <vector>

#include "moelab/backends/linalg_kernels.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/linalg.h"
#include "moelab/ops/op_helpers.h"

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

SVDResult svd(const Tensor& A, bool full_matrices) { return svd_impl(A, full_matrices, true, "linalg.svd"); }

Tensor svdvals(const Tensor& A) { return svd_impl(A, false, false, "linalg.svdvals").S; }

QRResult qr(const Tensor& A, std::string_view mode) {
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
  const Tensor B2 = vector_case ? B.unsqueeze(-1) : B;
  MOELAB_CHECK(B2.size(-2) == n, op, ": A ", A.shape(), " and B ", B.shape(), " do not match: B needs ", n,
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
  return vector_case ? X.squeeze(-1) : X;
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
  if (A.numel() == 0) return out;
  Tensor info = make_info(A);
  backend_of(A).linalg().cholesky(A, out, upper, info);
  check_info(info, op, [](int i) {
    return "the input is not positive-definite (the leading minor of order " + std::to_string(i) +
           " is not positive-definite)";
  });
  return out;
}

EighResult eigh(const Tensor& A, std::string_view UPLO) { return eigh_impl(A, UPLO, true, "linalg.eigh"); }

Tensor eigvalsh(const Tensor& A, std::string_view UPLO) {
  return eigh_impl(A, UPLO, false, "linalg.eigvalsh").eigenvalues;
}

}  // namespace moelab::linalg
