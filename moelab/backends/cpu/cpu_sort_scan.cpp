// CPU softmax, scans and counting kernels; topk and sort are in cpu_sort_scan_select.cpp.
#include <cmath>
#include <limits>
#include <type_traits>

#include "moelab/backends/cpu/cpu_backend.h"
#include "moelab/backends/cpu/cpu_softmax_f32.h"
#include "moelab/backends/cpu/cpu_sort_scan_rows.h"
#include "moelab/backends/cpu/loops.h"
#include "moelab/backends/sort_scan_kernels.h"

namespace moelab {
namespace {

// One row of softmax: p[i * ps] -> q[i * qs]. Three sweeps over a row that stays in cache: the max,
// the shifted exponentials (kept in the output) and their sum, then the scaling. Subtracting the
// max keeps exp() <= 1, so nothing overflows; an all -inf row gives (-inf) - (-inf) = NaN.
template <class T, bool Log>
void softmax_row(const T* p, int64_t ps, T* q, int64_t qs, int64_t n) {
  if (n == 0) return;
  T m = p[0];
  for (int64_t i = 1; i < n; ++i) {
    T x = p[i * ps];
    m = (x > m || x != x) ? x : m;  // NaN wins so it propagates
  }
  double sum = 0;
  if constexpr (Log) {
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(std::exp(p[i * ps] - m));
    const T shift = m + static_cast<T>(std::log(sum));
    for (int64_t i = 0; i < n; ++i) q[i * qs] = p[i * ps] - shift;
  } else {
    if (ps == 1 && qs == 1) {
      for (int64_t i = 0; i < n; ++i) {
        T e = std::exp(p[i] - m);
        q[i] = e;
        sum += static_cast<double>(e);
      }
      const T inv = static_cast<T>(1.0 / sum);
      for (int64_t i = 0; i < n; ++i) q[i] *= inv;
    } else {
      for (int64_t i = 0; i < n; ++i) {
        T e = std::exp(p[i * ps] - m);
        q[i * qs] = e;
        sum += static_cast<double>(e);
      }
      const T inv = static_cast<T>(1.0 / sum);
      for (int64_t i = 0; i < n; ++i) q[i * qs] *= inv;
    }
  }
}

template <class T, class Acc, ScanOp Op>
void scan_row(const T* p, int64_t ps, T* q, int64_t qs, int64_t n) {
  Acc acc = Op == ScanOp::Sum ? Acc(0) : Acc(1);
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (Op == ScanOp::Sum) acc += static_cast<Acc>(p[i * ps]);
    else acc *= static_cast<Acc>(p[i * ps]);
    q[i * qs] = static_cast<T>(acc);
  }
}

class CpuSortScanKernels final : public SortScanKernels {
 public:
  void softmax(const Tensor& out, const Tensor& in, int dim, bool log) override {
    visit_dtype<DTypes::Float>(in.dtype(), log ? "log_softmax" : "softmax", [&]<class T>() {
      const T* src = in.data_ptr<T>();
      T* dst = out.data_ptr<T>();
      const int64_t n = in.dim() ? in.size(dim) : 1;
      const int64_t ps = in.dim() ? in.stride(dim) : 1, qs = out.dim() ? out.stride(dim) : 1;
      cpu::Rows<2> rows({&in, &out}, dim);
      rows.for_each(4 * n, [&](const int64_t* off) {
        if constexpr (std::is_same_v<T, float>)
          if (ps == 1 && qs == 1) return cpu::softmax_row_f32(src + off[0], dst + off[1], n, log);
        if (log) softmax_row<T, true>(src + off[0], ps, dst + off[1], qs, n);
        else softmax_row<T, false>(src + off[0], ps, dst + off[1], qs, n);
      });
    });
  }

  void scan(ScanOp op, const Tensor& out, const Tensor& in, int dim) override {
    visit_dtype<DTypes::Numeric>(in.dtype(), op == ScanOp::Sum ? "cumsum" : "cumprod", [&]<class T>() {
      using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
      const T* src = in.data_ptr<T>();
      T* dst = out.data_ptr<T>();
      const int64_t n = in.dim() ? in.size(dim) : 1;
      const int64_t ps = in.dim() ? in.stride(dim) : 1, qs = out.dim() ? out.stride(dim) : 1;
      cpu::Rows<2> rows({&in, &out}, dim);
      rows.for_each(n, [&](const int64_t* off) {
        if (op == ScanOp::Sum) scan_row<T, Acc, ScanOp::Sum>(src + off[0], ps, dst + off[1], qs, n);
        else scan_row<T, Acc, ScanOp::Prod>(src + off[0], ps, dst + off[1], qs, n);
      });
    });
  }

  void topk(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k, int dim,
            bool largest) override {
    cpu::topk_kernel(values, indices, in, k, dim, largest);
  }

  void sort(const Tensor& values, const Tensor& indices, const Tensor& in, int dim, bool descending) override {
    cpu::sort_kernel(values, indices, in, dim, descending);
  }

  int64_t unique_consecutive(const Tensor& values, const Tensor& inverse, const Tensor& counts,
                             const Tensor& sorted, const Tensor& perm) override {
    return visit_dtype<DTypes::NumericBool>(sorted.dtype(), "unique", [&]<class T>() {
      const T* s = sorted.data_ptr<T>();
      const int64_t* pm = perm.data_ptr<int64_t>();
      T* v = values.data_ptr<T>();
      int64_t* inv = inverse.defined() ? inverse.data_ptr<int64_t>() : nullptr;
      int64_t* cnt = counts.defined() ? counts.data_ptr<int64_t>() : nullptr;
      const int64_t n = sorted.numel(), ss = sorted.dim() ? sorted.stride(0) : 1;
      const int64_t sp = perm.dim() ? perm.stride(0) : 1;
      int64_t g = -1;
      for (int64_t i = 0; i < n; ++i) {
        T x = s[i * ss];
        if (i == 0 || !(x == s[(i - 1) * ss])) {  // NaN != NaN: each NaN is its own value
          v[++g] = x;
          if (cnt) cnt[g] = 0;
        }
        if (cnt) ++cnt[g];
        if (inv) inv[pm[i * sp]] = g;
      }
      return g + 1;
    });
  }

  void bincount(const Tensor& out, const Tensor& in, const Tensor& weights) override {
    visit_dtype<DTypes::Numeric>(in.dtype(), "bincount", [&]<class I>() {
      const I* x = in.data_ptr<I>();
      const int64_t n = in.numel(), xs = in.stride(0);
      if (!weights.defined()) {
        int64_t* o = out.data_ptr<int64_t>();
        for (int64_t i = 0; i < n; ++i) ++o[static_cast<int64_t>(x[i * xs])];
        return;
      }
      visit_dtype<DTypes::Numeric>(out.dtype(), "bincount", [&]<class W>() {
        const W* w = weights.data_ptr<W>();
        W* o = out.data_ptr<W>();
        const int64_t ws = weights.stride(0);
        // Sequential on purpose: float sums in a fixed order are reproducible.
        for (int64_t i = 0; i < n; ++i) o[static_cast<int64_t>(x[i * xs])] += w[i * ws];
      });
    });
  }

  void histc(const Tensor& out, const Tensor& in, double lo_d, double hi_d) override {
    visit_dtype<DTypes::Float>(in.dtype(), "histc", [&]<class T>() {
      T* o = out.data_ptr<T>();
      const int64_t bins = out.numel();
      const T lo = static_cast<T>(lo_d), hi = static_cast<T>(hi_d);
      std::vector<int64_t> counts(static_cast<size_t>(bins), 0);
      cpu::LoopPlan<1> plan({&in});
      auto inner = [&](char** p, const int64_t* s, int64_t n) {
        for (int64_t i = 0; i < n; ++i) {
          T x = *reinterpret_cast<const T*>(p[0] + i * s[0]);
          if (!(x >= lo && x <= hi)) continue;  // outside, or NaN
          // The same formula as PyTorch's linear-interpolation histogram, in the input's type.
          auto b = static_cast<int64_t>((x - lo) * static_cast<T>(bins) / (hi - lo));
          if (b >= bins) b = bins - 1;
          ++counts[static_cast<size_t>(b)];
        }
      };
      if (plan.numel > 0) plan.run_range(0, plan.numel, inner);
      for (int64_t b = 0; b < bins; ++b) o[b] = static_cast<T>(counts[static_cast<size_t>(b)]);
    });
  }
};

}  // namespace

SortScanKernels& cpu_sort_scan_kernels() {
  static CpuSortScanKernels k;
  return k;
}

}  // namespace moelab
