// The CPU kernels of MoE's combine (IndexKernels::weighted_row_sum and its backward): each token's
// output is the weighted sum of its experts' rows, a gather, so no two threads write one element
// and the summation order is fixed.
//
// The f32 loops are cloned for AVX-512, AVX2 + FMA and baseline SSE2 (MOELAB_SIMD_CLONES in
// vec_math.h). The dot product of the weight gradient keeps 16 partial sums whatever the vector
// width, combined in one fixed order, so every clone gives the same bits.
#include <algorithm>
#include <cstdint>

#include "moelab/backends/cpu/cpu_weighted_rows.h"
#include "moelab/backends/cpu/vec_math.h"
#include "moelab/core/error.h"
#include "moelab/core/parallel.h"

namespace moelab::cpu {
namespace {

constexpr int kLanes = 16;

// The row loops, over d contiguous elements, cloned per ISA (f32 and f64).
template <class T>
MOELAB_SIMD_CLONES void axpy(T a, const T* __restrict x, T* __restrict y, int64_t d) {
  for (int64_t i = 0; i < d; ++i) y[i] += a * x[i];
}
template <class T>
MOELAB_SIMD_CLONES void scale(T a, const T* __restrict x, T* __restrict y, int64_t d) {
  for (int64_t i = 0; i < d; ++i) y[i] = a * x[i];
}
template <class T>
MOELAB_SIMD_CLONES T dot(const T* __restrict x, const T* __restrict y, int64_t d) {
  T acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= d; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += x[i + j] * y[i + j];
  for (int j = 0; i < d; ++i, ++j) acc[j] += x[i] * y[i];
  for (int w = kLanes / 2; w > 0; w /= 2)
    for (int j = 0; j < w; ++j) acc[j] += acc[j + w];
  return acc[0];
}

void check_contiguous(const Tensor& t, const char* op, const char* name) {
  MOELAB_CHECK(t.is_contiguous() && t.device().is_cpu(), op, ": ", name, " must be a contiguous CPU tensor");
}

int64_t rows_grain(int64_t per_row) { return std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, per_row)); }

}  // namespace

void weighted_row_sum_kernel(const Tensor& out, const Tensor& y, const Tensor& w, const Tensor& rows) {
  constexpr const char* op = "weighted_row_sum";
  for (const auto& [t, name] : {std::pair{&out, "out"}, {&y, "y"}, {&w, "w"}, {&rows, "rows"}})
    check_contiguous(*t, op, name);
  MOELAB_CHECK(out.dim() == 2 && y.dim() == 2 && w.dim() == 2 && rows.shape() == w.shape() &&
                   out.size(0) == w.size(0) && out.size(1) == y.size(1),
               op, ": out [T, d], y [N, d], w and rows [T, k] expected, got ", out.shape(), ", ", y.shape(), ", ",
               w.shape(), ", ", rows.shape());
  MOELAB_CHECK(rows.dtype() == kI64 && y.dtype() == out.dtype() && w.dtype() == out.dtype() &&
                   (out.dtype() == kF32 || out.dtype() == kF64),
               op, ": f32 or f64 out, y and w of one dtype and i64 rows expected");
  const int64_t T = out.size(0), d = out.size(1), k = w.size(1);
  const int64_t* prow = rows.data_ptr<int64_t>();
  visit_dtype<DTypes::Float>(out.dtype(), op, [&]<class S>() {
    const S *py = y.data_ptr<S>(), *pw = w.data_ptr<S>();
    S* po = out.data_ptr<S>();
    parallel_for(0, T, rows_grain(k * d), [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        S* o = po + t * d;
        std::fill(o, o + d, S(0));
        for (int64_t j = 0; j < k; ++j) {
          const int64_t r = prow[t * k + j];
          if (r >= 0) axpy(pw[t * k + j], py + r * d, o, d);
        }
      }
    });
  });
}

void weighted_row_sum_backward_kernel(const Tensor& gy, const Tensor& gw, const Tensor& g, const Tensor& y,
                                      const Tensor& w, const Tensor& rows, const Tensor& slots) {
  constexpr const char* op = "weighted_row_sum backward";
  MOELAB_CHECK(gy.defined() || gw.defined(), op, ": neither gradient asked for");
  for (const auto& [t, name] : {std::pair{&g, "g"}, {&y, "y"}, {&w, "w"}, {&rows, "rows"}, {&slots, "slots"}})
    check_contiguous(*t, op, name);
  if (gy.defined()) check_contiguous(gy, op, "gy");
  if (gw.defined()) check_contiguous(gw, op, "gw");
  const int64_t N = y.size(0), d = y.size(1), k = w.size(1), S = w.numel();
  MOELAB_CHECK(slots.dim() == 1 && slots.size(0) == N && slots.dtype() == kI64 && rows.dtype() == kI64 &&
                   rows.shape() == w.shape() && g.dim() == 2 && g.size(0) == w.size(0) && g.size(1) == d &&
                   (!gy.defined() || gy.shape() == y.shape()) && (!gw.defined() || gw.shape() == w.shape()),
               op, ": g [T, d], y and gy [N, d], w, gw and rows [T, k], slots [N] expected");
  const int64_t *prow = rows.data_ptr<int64_t>(), *pslot = slots.data_ptr<int64_t>();
  visit_dtype<DTypes::Float>(y.dtype(), op, [&]<class T>() {
    const T *pg = g.data_ptr<T>(), *py = y.data_ptr<T>(), *pw = w.data_ptr<T>();
    if (gy.defined()) {
      T* po = gy.data_ptr<T>();
      parallel_for(0, N, rows_grain(d), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t s = pslot[r];
          scale(pw[s], pg + (s / k) * d, po + r * d, d);
        }
      });
    }
    if (gw.defined()) {
      T* po = gw.data_ptr<T>();
      parallel_for(0, S, rows_grain(d), [&](int64_t s0, int64_t s1) {
        for (int64_t s = s0; s < s1; ++s) {
          const int64_t r = prow[s];
          po[s] = r >= 0 ? dot(pg + (s / k) * d, py + r * d, d) : T(0);
        }
      });
    }
  });
}

}  // namespace moelab::cpu
