// Matrix products (OpenBLAS GEMM, batched) and LAPACK decompositions.
//
// Shapes: every primitive works on stacks of matrices [..., rows, cols]. ops/ broadcasts the batch
// dims beforehand (stride 0 on broadcast dims), so all operands of one call share the batch shape.
// Inputs may have any strides; outputs are allocated by the caller. LAPACK primitives report
// LAPACK's `info` per matrix in an i32 tensor shaped like the batch (0 = success) instead of
// throwing, so that ops/ can word the error (or, later, a *_ex op can return it as PyTorch does).
#pragma once
#include <cstdint>
#include <vector>

#include "moelab/core/tensor.h"

namespace moelab {

class LinalgKernels {
 public:
  virtual ~LinalgKernels() = default;

  // out[...] = alpha * a[...] @ b[...] + beta * out[...], with a [..., M, K], b [..., K, N] and
  // out [..., M, N], all of one dtype (f32, f64, i32, i64). beta = 0 means out is not read (NaNs in
  // it do not leak), as in BLAS. out must not overlap a or b. K = 0 gives beta * out.
  virtual void gemm(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, double beta) = 0;

  // Grouped GEMM over row segments (MoE experts after dispatch): group g owns rows
  // offsets[g] .. offsets[g+1] of a and out, and out[rows_g] = a[rows_g] @ b[g]. a [N, K] and out
  // [N, M] contiguous; b [G, K, M] contiguous, or the transpose(1, 2) view of a contiguous
  // [G, M, K] (read in place, no copy). offsets (host, G + 1 entries) start at 0, do not decrease and
  // end at N; f32/f64. Unlike the other kernels these layouts are required, not any strides. An
  // empty group writes nothing; K = 0 gives zeros.
  virtual void grouped_gemm(const Tensor& out, const Tensor& a, const Tensor& b,
                            const std::vector<int64_t>& offsets) = 0;

  // Its weight-gradient form: out[g] = a[rows_g]^T @ c[rows_g], a [N, K], c [N, M], out [G, K, M],
  // all contiguous, offsets as above; out[g] is zero for an empty group.
  virtual void grouped_gemm_tn(const Tensor& out, const Tensor& a, const Tensor& c,
                               const std::vector<int64_t>& offsets) = 0;

  // Thin (full_matrices = false) or full SVD of a [..., m, n] (f32/f64), k = min(m, n):
  // s [..., k] descending; u [..., m, k or m] and vh [..., k or n, n], both contiguous. With u and
  // vh undefined only the singular values are computed. info [...] i32.
  virtual void svd(const Tensor& a, const Tensor& u, const Tensor& s, const Tensor& vh, bool full_matrices,
                   const Tensor& info) = 0;

  // Householder QR of a [..., m, n], k = min(m, n): reduced (complete = false) gives q [..., m, k],
  // r [..., k, n]; complete gives q [..., m, m], r [..., m, n]. q undefined = R only. Contiguous
  // outputs. R's diagonal may be negative (LAPACK's convention, the same as PyTorch's).
  virtual void qr(const Tensor& a, const Tensor& q, const Tensor& r, bool complete) = 0;

  // Solves a[...] @ x[...] = b[...] by LU with partial pivoting: a [..., n, n], b and x
  // [..., n, nrhs], x contiguous. info > 0: a is singular (U[info-1, info-1] is exactly zero).
  virtual void solve(const Tensor& a, const Tensor& b, const Tensor& x, const Tensor& info) = 0;

  // Cholesky factor of the symmetric positive-definite a [..., n, n], read from its lower
  // (upper = false; out = L, a = L L^T) or upper triangle (out = U, a = U^T U). out contiguous, its
  // other triangle zero. info > 0: the leading minor of order info is not positive-definite.
  virtual void cholesky(const Tensor& a, const Tensor& out, bool upper, const Tensor& info) = 0;

  // Eigen-decomposition of the symmetric a [..., n, n] read from its lower (lower = true) or upper
  // triangle: eigenvalues w [..., n] ascending, eigenvectors as the columns of v [..., n, n]
  // (contiguous); v undefined = eigenvalues only. info > 0: the algorithm did not converge.
  virtual void eigh(const Tensor& a, const Tensor& w, const Tensor& v, bool lower, const Tensor& info) = 0;
};

}  // namespace moelab
