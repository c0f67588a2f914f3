// Grouped GEMM on the CPU (LinalgKernels::grouped_gemm and grouped_gemm_tn): one cblas_sgemm /
// cblas_dgemm per non-empty group, on its contiguous row segment, written straight into the output;
// no padding, no per-group tensors.
//
// Scheduling: OpenBLAS multithreads a GEMM above 64^3 multiply-adds and runs smaller ones on the
// calling thread. So large group GEMMs run one after another, each using BLAS's threads, while
// small ones are spread over moelab's pool with parallel_for (the same policy as gemm's batches),
// so that pool threads never enter OpenBLAS's thread server.
#include <cblas.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "moelab/backends/cpu/cpu_dnnl_gemm.h"
#include "moelab/backends/cpu/cpu_linalg.h"
#include "moelab/core/error.h"
#include "moelab/core/parallel.h"

namespace moelab::cpu {
namespace {

constexpr int64_t kSmallGemm = 64 * 64 * 64;

// C[m, n] = op(A) @ op(B) (beta = 0), row-major.
template <class T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb, T* c,
          int64_t ldc, const char* op) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum; BLAS implementations differ on whether they touch C
    for (int64_t i = 0; i < m; ++i) std::memset(c + i * ldc, 0, static_cast<size_t>(n) * sizeof(T));
    return;
  }
  const auto TA = ta ? CblasTrans : CblasNoTrans, TB = tb ? CblasTrans : CblasNoTrans;
  const int M = to_blas_int(m, op), N = to_blas_int(n, op), K = to_blas_int(k, op);
  const int LDA = to_blas_int(lda, op), LDB = to_blas_int(ldb, op), LDC = to_blas_int(ldc, op);
  if constexpr (std::is_same_v<T, float>) {
    if (!dnnl_sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc))
      cblas_sgemm(CblasRowMajor, TA, TB, M, N, K, 1.0f, a, LDA, b, LDB, 0.0f, c, LDC);
  } else
    cblas_dgemm(CblasRowMajor, TA, TB, M, N, K, 1.0, a, LDA, b, LDB, 0.0, c, LDC);
}

// Runs fn(g) for every group: large GEMMs in turn (BLAS threads each), small ones over the pool.
template <class Fn>
void for_each_group(int64_t G, const std::vector<int64_t>& work, const Fn& fn) {
  std::vector<int64_t> small;
  int64_t small_work = 0;
  for (int64_t g = 0; g < G; ++g) {
    const int64_t wk = work[static_cast<size_t>(g)];
    if (wk > kSmallGemm) {
      fn(g);
    } else {
      small.push_back(g);
      small_work += wk;
    }
  }
  if (small.empty()) return;
  const int64_t n = static_cast<int64_t>(small.size());
  const int64_t avg = std::max<int64_t>(1, small_work / n);
  parallel_for(0, n, std::max<int64_t>(1, (1 << 20) / avg), [&](int64_t b, int64_t end) {
    for (int64_t i = b; i < end; ++i) fn(small[static_cast<size_t>(i)]);
  });
}

// Multiply-adds per group: rows_g * k * m.
std::vector<int64_t> group_work(const std::vector<int64_t>& offs, int64_t k, int64_t m) {
  std::vector<int64_t> work(offs.size() - 1);
  for (size_t g = 0; g + 1 < offs.size(); ++g) work[g] = (offs[g + 1] - offs[g]) * k * m;
  return work;
}

}  // namespace

void blas_grouped_gemm(const Tensor& out, const Tensor& a, const Tensor& b, const std::vector<int64_t>& offs) {
  const char* op = "grouped_gemm";
  const int64_t G = b.size(0), K = a.size(1), M = b.size(2);
  MOELAB_CHECK(a.is_contiguous() && out.is_contiguous(), op, ": a and out must be contiguous");
  // b[g] as BLAS sees it: row-major [K, M], or the transpose of a row-major [M, K].
  const bool trans = !b.is_contiguous();
  MOELAB_CHECK(!trans || b.transpose(1, 2).is_contiguous(), op,
               ": b must be contiguous or the transpose(1, 2) view of a contiguous tensor, got strides ",
               b.strides());
  const int64_t ldb = trans ? std::max<int64_t>(1, K) : std::max<int64_t>(1, M);
  const std::vector<int64_t> work = group_work(offs, K, M);
  visit_dtype<DTypes::Float>(a.dtype(), op, [&]<class T>() {
    const T* pa = a.data_ptr<T>();
    const T* pb = b.data_ptr<T>();
    T* po = out.data_ptr<T>();
    for_each_group(G, work, [&](int64_t g) {
      const int64_t r0 = offs[static_cast<size_t>(g)], rows = offs[static_cast<size_t>(g + 1)] - r0;
      gemm<T>(false, trans, rows, M, K, pa + r0 * K, std::max<int64_t>(1, K), pb + g * K * M, ldb, po + r0 * M,
              std::max<int64_t>(1, M), op);
    });
  });
}

void blas_grouped_gemm_tn(const Tensor& out, const Tensor& a, const Tensor& c, const std::vector<int64_t>& offs) {
  const char* op = "grouped_gemm_tn";
  const int64_t G = out.size(0), K = a.size(1), M = c.size(1);
  MOELAB_CHECK(a.is_contiguous() && c.is_contiguous() && out.is_contiguous(), op,
               ": a, c and out must be contiguous");
  const std::vector<int64_t> work = group_work(offs, K, M);
  visit_dtype<DTypes::Float>(a.dtype(), op, [&]<class T>() {
    const T* pa = a.data_ptr<T>();
    const T* pc = c.data_ptr<T>();
    T* po = out.data_ptr<T>();
    for_each_group(G, work, [&](int64_t g) {
      const int64_t r0 = offs[static_cast<size_t>(g)], rows = offs[static_cast<size_t>(g + 1)] - r0;
      // rows = 0 gives an empty sum: gemm writes zeros, so an empty group gets a zero gradient.
      gemm<T>(true, false, K, M, rows, pa + r0 * K, std::max<int64_t>(1, K), pc + r0 * M, std::max<int64_t>(1, M),
              po + g * K * M, std::max<int64_t>(1, M), op);
    });
  });
}

}  // namespace moelab::cpu
