// CPU matrix products: batched strided GEMM over OpenBLAS for f32/f64, a plain loop for integers
// (the grouped GEMMs over row segments are in cpu_grouped_gemm.cpp).
//
// Operands go to BLAS without a copy whenever their layout allows: a matrix whose column stride is
// 1 is passed as is (row-major, lda = row stride), one whose row stride is 1 is passed with
// CblasTrans (lda = column stride). Only other layouts (broadcast or doubly strided matrices) are
// packed into a scratch buffer, one matrix at a time.
#include <cblas.h>

#include <type_traits>
#include <vector>

#include "moelab/backends/cpu/cpu_backend.h"
#include "moelab/backends/cpu/cpu_dnnl_gemm.h"
#include "moelab/backends/cpu/cpu_linalg.h"
#include "moelab/backends/linalg_kernels.h"
#include "moelab/core/parallel.h"

namespace moelab {
namespace cpu {
namespace {

// How one matrix of a stack is handed to BLAS. All matrices of a stack share strides, so the
// layout is worked out once per call.
struct BlasLayout {
  int64_t rows = 0, cols = 0, rs = 0, cs = 0;  // shape and strides in elements
  bool direct = false;  // BLAS can read it in place
  bool trans = false;   // passed as the transpose of a row-major matrix
  int64_t ld = 1;

  BlasLayout(int64_t rows_, int64_t cols_, int64_t rs_, int64_t cs_) : rows(rows_), cols(cols_), rs(rs_), cs(cs_) {
    // A dim of size 1 has no meaningful stride, so it never blocks a layout.
    const bool unit_cols = cols <= 1 || cs == 1;
    const bool unit_rows = rows <= 1 || rs == 1;
    if (unit_cols) {
      int64_t l = rows <= 1 ? std::max<int64_t>(1, cols) : rs;
      if (l >= std::max<int64_t>(1, cols)) {
        direct = true;
        ld = l;
        return;
      }
    }
    if (unit_rows) {
      int64_t l = cols <= 1 ? std::max<int64_t>(1, rows) : cs;
      if (l >= std::max<int64_t>(1, rows)) {
        direct = true;
        trans = true;
        ld = l;
      }
    }
  }
  // After packing into a dense row-major buffer.
  void set_packed() {
    direct = true;
    trans = false;
    ld = std::max<int64_t>(1, cols);
  }
};

CBLAS_TRANSPOSE blas_trans(bool t) { return t ? CblasTrans : CblasNoTrans; }

// C = alpha * op(A) @ op(B) + beta * C, all row-major; gemv when one side is a vector.
template <class T>
void blas_gemm(const BlasLayout& la, const T* a, const BlasLayout& lb, const T* b, T* c, int64_t ldc, int64_t m,
               int64_t n, int64_t k, T alpha, T beta) {
  constexpr const char* op = "matmul";
  const int M = to_blas_int(m, op), N = to_blas_int(n, op), K = to_blas_int(k, op);
  const int lda = to_blas_int(la.ld, op), ldb = to_blas_int(lb.ld, op), ldC = to_blas_int(ldc, op);
  // Fresh outputs hold garbage, possibly NaN bit patterns; gemv's handling of beta = 0 has varied
  // across OpenBLAS versions, so clear y ourselves (O(m + n), next to O(m k) or O(k n) work).
  if (beta == T(0) && (n == 1) != (m == 1))
    for (int64_t i = 0; i < std::max(m, n); ++i) c[n == 1 ? i * ldc : i] = T(0);
  if (n == 1 && m > 1) {
    // y = op(A) x: x is B's only column, y C's only column.
    const int incx = lb.trans ? 1 : ldb;  // row-major K x 1 steps by ldb; its transpose is a dense row
    if constexpr (std::is_same_v<T, float>)
      cblas_sgemv(CblasRowMajor, blas_trans(la.trans), la.trans ? K : M, la.trans ? M : K, alpha, a, lda, b,
                  incx, beta, c, ldC);
    else
      cblas_dgemv(CblasRowMajor, blas_trans(la.trans), la.trans ? K : M, la.trans ? M : K, alpha, a, lda, b,
                  incx, beta, c, ldC);
    return;
  }
  if (m == 1 && n > 1) {
    // y^T = x^T op(B), i.e. y = op(B)^T x: x is A's only row, y C's only row.
    const int incx = la.trans ? lda : 1;
    if constexpr (std::is_same_v<T, float>)
      cblas_sgemv(CblasRowMajor, blas_trans(!lb.trans), lb.trans ? N : K, lb.trans ? K : N, alpha, b, ldb, a,
                  incx, beta, c, 1);
    else
      cblas_dgemv(CblasRowMajor, blas_trans(!lb.trans), lb.trans ? N : K, lb.trans ? K : N, alpha, b, ldb, a,
                  incx, beta, c, 1);
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    if (!dnnl_sgemm(la.trans, lb.trans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc))
      cblas_sgemm(CblasRowMajor, blas_trans(la.trans), blas_trans(lb.trans), M, N, K, alpha, a, lda, b, ldb, beta, c,
                  ldC);
  } else
    cblas_dgemm(CblasRowMajor, blas_trans(la.trans), blas_trans(lb.trans), M, N, K, alpha, a, lda, b, ldb, beta, c,
                ldC);
}

// Per-thread scratch for operands BLAS cannot read in place.
template <class T>
struct GemmScratch {
  std::vector<T> a, b, c;
};

template <class T>
void gemm_float(const Tensor& out, const Tensor& a, const Tensor& b, double alpha_d, double beta_d) {
  const int nd = out.dim();
  const int64_t m = out.size(nd - 2), n = out.size(nd - 1), k = a.size(nd - 1);
  const int64_t nbatch = batch_count(out, 2);
  if (m == 0 || n == 0 || nbatch == 0) return;
  const T alpha = static_cast<T>(alpha_d), beta = static_cast<T>(beta_d);
  const BlasLayout la0(m, k, a.stride(nd - 2), a.stride(nd - 1));
  const BlasLayout lb0(k, n, b.stride(nd - 2), b.stride(nd - 1));
  const BlasLayout lc0(m, n, out.stride(nd - 2), out.stride(nd - 1));
  const bool c_direct = lc0.direct && !lc0.trans;
  const T* pa = a.data_ptr<T>();
  const T* pb = b.data_ptr<T>();
  T* pc = out.data_ptr<T>();

  auto run = [&](int64_t begin, int64_t end) {
    GemmScratch<T> scratch;
    for (int64_t i = begin; i < end; ++i) {
      const T* ai = pa + batch_offset(a, 2, i);
      const T* bi = pb + batch_offset(b, 2, i);
      T* ci = pc + batch_offset(out, 2, i);
      T* cbuf = ci;
      int64_t ldc = lc0.ld;
      if (!c_direct) {  // compute into a dense buffer, then scatter
        scratch.c.resize(static_cast<size_t>(m * n));
        cbuf = scratch.c.data();
        ldc = n;
        if (beta != T(0)) pack_matrix(ci, m, n, lc0.rs, lc0.cs, cbuf, false);
      }
      if (k == 0) {  // an empty sum: BLAS implementations differ on whether they touch C
        for (int64_t r = 0; r < m; ++r)
          for (int64_t j = 0; j < n; ++j) cbuf[r * ldc + j] = beta == T(0) ? T(0) : beta * cbuf[r * ldc + j];
      } else {
        BlasLayout la = la0, lb = lb0;
        if (!la.direct) {
          scratch.a.resize(static_cast<size_t>(m * k));
          pack_matrix(ai, m, k, la.rs, la.cs, scratch.a.data(), false);
          ai = scratch.a.data();
          la.set_packed();
        }
        if (!lb.direct) {
          scratch.b.resize(static_cast<size_t>(k * n));
          pack_matrix(bi, k, n, lb.rs, lb.cs, scratch.b.data(), false);
          bi = scratch.b.data();
          lb.set_packed();
        }
        blas_gemm<T>(la, ai, lb, bi, cbuf, ldc, m, n, k, alpha, beta);
      }
      if (!c_direct)
        for (int64_t r = 0; r < m; ++r)
          for (int64_t j = 0; j < n; ++j) ci[r * lc0.rs + j * lc0.cs] = cbuf[r * n + j];
    }
  };
  // Small matrices: spread the batch over the pool. OpenBLAS runs GEMMs below 64^3 multiply-adds
  // on the calling thread, so pool threads never enter its thread server. Larger ones go one at a
  // time and OpenBLAS threads each.
  constexpr int64_t kSmallGemm = 64 * 64 * 64;
  const int64_t work = m * n * std::max<int64_t>(k, 1);
  if (nbatch > 1 && work <= kSmallGemm)
    parallel_for(0, nbatch, std::max<int64_t>(1, (1 << 20) / work), run);
  else
    run(0, nbatch);
}

// Integers: no BLAS; a plain i-k-j loop that wraps on overflow like PyTorch (unsigned arithmetic,
// so no signed-overflow UB).
template <class T>
void gemm_int(const Tensor& out, const Tensor& a, const Tensor& b, double alpha_d, double beta_d) {
  using U = std::make_unsigned_t<T>;
  const int nd = out.dim();
  const int64_t m = out.size(nd - 2), n = out.size(nd - 1), k = a.size(nd - 1);
  const int64_t nbatch = batch_count(out, 2);
  const U alpha = static_cast<U>(static_cast<T>(alpha_d)), beta = static_cast<U>(static_cast<T>(beta_d));
  const int64_t ars = a.stride(nd - 2), acs = a.stride(nd - 1), brs = b.stride(nd - 2), bcs = b.stride(nd - 1);
  const int64_t crs = out.stride(nd - 2), ccs = out.stride(nd - 1);
  const T* pa = a.data_ptr<T>();
  const T* pb = b.data_ptr<T>();
  T* pc = out.data_ptr<T>();
  const int64_t grain = std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, n * k));
  parallel_for(0, nbatch * m, grain, [&](int64_t begin, int64_t end) {
    std::vector<U> acc(static_cast<size_t>(n));
    for (int64_t row = begin; row < end; ++row) {
      const int64_t bi = row / m, i = row % m;
      const T* ar = pa + batch_offset(a, 2, bi) + i * ars;
      const T* bm = pb + batch_offset(b, 2, bi);
      T* cr = pc + batch_offset(out, 2, bi) + i * crs;
      std::fill(acc.begin(), acc.end(), U(0));
      for (int64_t p = 0; p < k; ++p) {
        const U x = static_cast<U>(ar[p * acs]);
        const T* br = bm + p * brs;
        for (int64_t j = 0; j < n; ++j) acc[static_cast<size_t>(j)] += x * static_cast<U>(br[j * bcs]);
      }
      for (int64_t j = 0; j < n; ++j) {
        U v = alpha * acc[static_cast<size_t>(j)];
        if (beta != U(0)) v += beta * static_cast<U>(cr[j * ccs]);
        cr[j * ccs] = static_cast<T>(v);
      }
    }
  });
}

class CpuLinalgKernels final : public LinalgKernels {
 public:
  void gemm(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, double beta) override {
    visit_dtype<DTypes::Numeric>(out.dtype(), "matmul", [&]<class T>() {
      if constexpr (std::is_floating_point_v<T>)
        gemm_float<T>(out, a, b, alpha, beta);
      else
        gemm_int<T>(out, a, b, alpha, beta);
    });
  }
  void grouped_gemm(const Tensor& out, const Tensor& a, const Tensor& b,
                    const std::vector<int64_t>& offsets) override {
    blas_grouped_gemm(out, a, b, offsets);
  }
  void grouped_gemm_tn(const Tensor& out, const Tensor& a, const Tensor& c,
                       const std::vector<int64_t>& offsets) override {
    blas_grouped_gemm_tn(out, a, c, offsets);
  }
  void svd(const Tensor& a, const Tensor& u, const Tensor& s, const Tensor& vh, bool full_matrices,
           const Tensor& info) override {
    lapack_svd(a, u, s, vh, full_matrices, info);
  }
  void qr(const Tensor& a, const Tensor& q, const Tensor& r, bool complete) override { lapack_qr(a, q, r, complete); }
  void solve(const Tensor& a, const Tensor& b, const Tensor& x, const Tensor& info) override {
    lapack_solve(a, b, x, info);
  }
  void cholesky(const Tensor& a, const Tensor& out, bool upper, const Tensor& info) override {
    lapack_cholesky(a, out, upper, info);
  }
  void eigh(const Tensor& a, const Tensor& w, const Tensor& v, bool lower, const Tensor& info) override {
    lapack_eigh(a, w, v, lower, info);
  }
};

}  // namespace
}  // namespace cpu

LinalgKernels& cpu_linalg_kernels() {
  static cpu::CpuLinalgKernels k;
  return k;
}

}  // namespace moelab
