// Internal helpers shared by the CPU linear-algebra files (not part of the public API).
#pragma once
#include <climits>
#include <cstdint>
#include <vector>

#include "moelab/core/tensor.h"

namespace moelab::cpu {

// Offset in elements of the i-th matrix (or vector, or scalar) of a stack: `trailing` is how many
// trailing dims make up one item; the dims before them are the batch dims, walked in row-major order.
inline int64_t batch_offset(const Tensor& t, int trailing, int64_t i) {
  int64_t off = 0;
  for (int d = t.dim() - trailing - 1; d >= 0; --d) {
    const int64_t n = t.size(d);
    off += (i % n) * t.stride(d);
    i /= n;
  }
  return off;
}

// Number of items in a stack (product of the batch dims).
inline int64_t batch_count(const Tensor& t, int trailing) {
  int64_t n = 1;
  for (int d = 0; d < t.dim() - trailing; ++d) n *= t.size(d);
  return n;
}

// BLAS and LAPACK take 32-bit sizes (LP64 OpenBLAS).
inline int to_blas_int(int64_t v, const char* op) {
  MOELAB_CHECK(v <= INT_MAX, op, ": size ", v, " exceeds what 32-bit BLAS/LAPACK can index");
  return static_cast<int>(v);
}

// Copies the rows x cols matrix at src (strides rs, cs in elements) into dst, densely, in row-major
// or column-major (col_major = true) order.
template <class T>
void pack_matrix(const T* src, int64_t rows, int64_t cols, int64_t rs, int64_t cs, T* dst, bool col_major) {
  if (col_major) {
    for (int64_t j = 0; j < cols; ++j)
      for (int64_t i = 0; i < rows; ++i) *dst++ = src[i * rs + j * cs];
  } else {
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) *dst++ = src[i * rs + j * cs];
  }
}

// The LAPACK primitives (cpu_linalg_lapack.cpp); signatures as in LinalgKernels.
void lapack_svd(const Tensor& a, const Tensor& u, const Tensor& s, const Tensor& vh, bool full_matrices,
                const Tensor& info);
void lapack_qr(const Tensor& a, const Tensor& q, const Tensor& r, bool complete);
void lapack_solve(const Tensor& a, const Tensor& b, const Tensor& x, const Tensor& info);
void lapack_cholesky(const Tensor& a, const Tensor& out, bool upper, const Tensor& info);
void lapack_eigh(const Tensor& a, const Tensor& w, const Tensor& v, bool lower, const Tensor& info);

// The grouped GEMMs (cpu_grouped_gemm.cpp); signatures and layouts as in LinalgKernels.
void blas_grouped_gemm(const Tensor& out, const Tensor& a, const Tensor& b, const std::vector<int64_t>& offsets);
void blas_grouped_gemm_tn(const Tensor& out, const Tensor& a, const Tensor& c, const std::vector<int64_t>& offsets);

}  // namespace moelab::cpu
