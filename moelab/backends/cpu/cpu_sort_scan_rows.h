// Shared by the CPU sort/scan files: walking a tensor as rows along one dim, and the ordering that
// sort and topk use (NaN greater than every number, as in PyTorch).
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>

#include <type_traits>

#include "moelab/core/parallel.h"
#include "moelab/core/tensor.h"

namespace moelab::cpu {

// The rows of N same-rank tensors along `dim`: row r starts at offsets(r) (in elements) in each
// tensor. The tensors agree on every dim but `dim`, where they may differ (topk's k vs n).
template <int N>
struct Rows {
  int nd = 0;
  int64_t size[kMaxDims] = {};
  int64_t stride[N][kMaxDims] = {};
  int64_t count = 1;

  Rows(const std::array<const Tensor*, N>& ts, int dim) {
    const Tensor& t0 = *ts[0];
    for (int d = 0; d < t0.dim(); ++d) {
      if (d == dim) continue;
      count *= t0.size(d);
      if (t0.size(d) == 1) continue;
      size[nd] = t0.size(d);
      for (int t = 0; t < N; ++t) stride[t][nd] = ts[t]->stride(d);
      ++nd;
    }
  }

  void offsets(int64_t r, int64_t* off) const {
    for (int t = 0; t < N; ++t) off[t] = 0;
    for (int k = nd - 1; k >= 0; --k) {
      int64_t i = r % size[k];
      r /= size[k];
      for (int t = 0; t < N; ++t) off[t] += i * stride[t][k];
    }
  }

  // fn(offsets) for every row, in parallel; row_cost ~ elements touched per row.
  template <class F>
  void for_each(int64_t row_cost, F&& fn) const {
    if (count == 0) return;
    int64_t grain = std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, row_cost));
    auto body = [&](int64_t b, int64_t e) {
      int64_t off[N];
      for (int64_t r = b; r < e; ++r) {
        offsets(r, off);
        fn(off);
      }
    };
    if (count <= grain) body(0, count);
    else parallel_for(0, count, grain, body);
  }
};

// Strict "a comes before b" for an ascending sort with NaN last (any NaN equals any NaN).
template <class T>
inline bool less_nan(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) return !(a != a) && ((b != b) || a < b);
  else return a < b;
}

// Defined in cpu_sort_scan_select.cpp (see SortScanKernels::topk and ::sort).
void topk_kernel(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k, int dim, bool largest);
void sort_kernel(const Tensor& values, const Tensor& indices, const Tensor& in, int dim, bool descending);

}  // namespace moelab::cpu
