// Decompositions and solvers, mirroring torch.linalg (moelab::linalg::svd = torch.linalg.svd), on
// the LAPACK bundled with OpenBLAS. Every op takes stacks of matrices [..., m, n] (f32 or f64) and
// works matrix by matrix; a singular or non-positive-definite input throws a moelab::Error naming
// the op and the batch element.
//
// Gradients follow PyTorch: svd and eigh need distinct singular values / eigenvalues (only
// gauge-invariant functions of the vectors have a well-defined gradient); cholesky and eigh give the
// symmetric gradient (not one for the triangle they read); qr has none for mode "r", nor for mode
// "complete" with more rows than columns (an Error at backward); svd with full_matrices gives no
// gradient through the columns of U (rows of Vh) beyond min(m, n).
#pragma once
#include <string_view>

#include "moelab/core/tensor.h"

namespace moelab::linalg {

// A = U diag(S) Vh with S descending, k = min(m, n). full_matrices (PyTorch's default) gives
// U [..., m, m] and Vh [..., n, n]; false gives the thin U [..., m, k] and Vh [..., k, n].
// The signs of singular vectors are whatever LAPACK (gesdd) returns, as in PyTorch.
struct SVDResult {
  Tensor U, S, Vh;
};
SVDResult svd(const Tensor& A, bool full_matrices = true);
Tensor svdvals(const Tensor& A);  // S only [..., k]

// A = Q R by Householder reflections. mode "reduced": Q [..., m, k], R [..., k, n]; "complete":
// Q [..., m, m], R [..., m, n]; "r": R [..., k, n] and an empty Q, as in PyTorch.
struct QRResult {
  Tensor Q, R;
};
QRResult qr(const Tensor& A, std::string_view mode = "reduced");

// X with A X = B, A [..., n, n] invertible. B is [..., n, k], or a vector [n] / [..., n] (when its
// shape is A's without the last dim), which gives X of B's shape. Batch dims broadcast.
Tensor solve(const Tensor& A, const Tensor& B);
Tensor inv(const Tensor& A);  // solve(A, I)

// The Cholesky factor of a symmetric positive-definite A, read from its lower triangle: L lower
// with A = L L^T; upper = true reads the upper triangle and gives U = L^T with A = U^T U.
Tensor cholesky(const Tensor& A, bool upper = false);

// Eigenvalues (ascending) and eigenvectors (columns) of a symmetric A read from the triangle UPLO
// ("L" or "U"). Eigenvectors are unique only up to sign (and rotation within repeated eigenvalues).
struct EighResult {
  Tensor eigenvalues, eigenvectors;
};
EighResult eigh(const Tensor& A, std::string_view UPLO = "L");
Tensor eigvalsh(const Tensor& A, std::string_view UPLO = "L");

}  // namespace moelab::linalg
