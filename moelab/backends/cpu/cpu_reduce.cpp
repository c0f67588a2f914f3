#include <cmath>
#include <limits>

#include "moelab/backends/cpu/cpu_backend.h"
#include "moelab/backends/reduce_kernels.h"
#include "moelab/core/parallel.h"

namespace moelab {
namespace {

// The reduced dims of `in`, merged where contiguous; walk() visits them as runs of the innermost one.
struct ReducedDims {
  int n = 0;
  int64_t shape[kMaxDims] = {}, stride[kMaxDims] = {};  // [0] innermost, strides in elements
  int64_t count = 1;

  ReducedDims(const Tensor& in, uint32_t mask) {
    for (int d = in.dim() - 1; d >= 0; --d) {
      if (!(mask >> d & 1u) || in.size(d) == 1) continue;
      count *= in.size(d);
      if (n > 0 && in.stride(d) == stride[n - 1] * shape[n - 1]) {
        shape[n - 1] *= in.size(d);
        continue;
      }
      shape[n] = in.size(d);
      stride[n] = in.stride(d);
      ++n;
    }
    for (int d = 0; d < in.dim(); ++d)
      if ((mask >> d & 1u) && in.size(d) == 0) count = 0;
  }

  // fn(pointer to first element of a run, stride, run length)
  template <class T, class F>
  void walk(const T* base, F&& fn) const {
    if (count == 0) return;
    if (n == 0) return fn(base, int64_t{1}, int64_t{1});
    int64_t idx[kMaxDims] = {};
    for (;;) {
      const T* p = base;
      for (int d = 1; d < n; ++d) p += idx[d] * stride[d];
      fn(p, stride[0], shape[0]);
      int d = 1;
      for (; d < n; ++d) {
        if (++idx[d] < shape[d]) break;
        idx[d] = 0;
      }
      if (d >= n) return;
    }
  }
};

// Offsets (in elements) of each output position into `in` and into `out`, in output order.
template <class F>
void for_each_output(const Tensor& out, const Tensor& in, uint32_t mask, F&& fn) {
  int kept[kMaxDims], nk = 0;
  for (int d = 0; d < in.dim(); ++d)
    if (!(mask >> d & 1u)) kept[nk++] = d;
  int64_t total = out.numel();
  int64_t grain = std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, in.numel() / std::max<int64_t>(total, 1)));
  parallel_for(0, total, grain, [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      int64_t rest = o, in_off = 0, out_off = 0;
      for (int k = nk - 1; k >= 0; --k) {
        int d = kept[k];
        int64_t i = rest % in.size(d);
        rest /= in.size(d);
        in_off += i * in.stride(d);
        out_off += i * out.stride(d);
      }
      fn(in_off, out_off);
    }
  });
}

template <class T>
using acc_t = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

// Sum of a dense input over its leading dims (a bias gradient: [rows, cols] -> [cols]): rows are
// added into a block of accumulators, a vectorisable loop, where the general walk reads each column
// with a stride. Each output still sums its elements in row order in double, in one thread, so the
// result is the same to the bit. False when the layout is not of this form.
template <class T>
bool sum_leading_dims(const Tensor& out, const Tensor& in, uint32_t mask) {
  if (!std::is_floating_point_v<T> || !in.is_contiguous() || !out.is_contiguous() || in.dim() < 2) return false;
  int lead = 0;
  while (lead < in.dim() && (mask >> lead & 1u)) ++lead;
  if (lead == 0 || (mask >> lead) != 0) return false;  // reduced dims must be exactly the leading ones
  int64_t rows = 1;
  for (int d = 0; d < lead; ++d) rows *= in.size(d);
  const int64_t cols = out.numel();
  if (rows < 2 || cols < 8) return false;
  const T* src = in.data_ptr<T>();
  T* dst = out.data_ptr<T>();
  constexpr int64_t kBlock = 256;
  const int64_t grain = std::max<int64_t>(kBlock, kElementwiseGrain / rows);
  parallel_for(0, cols, grain, [&](int64_t b, int64_t e) {
    acc_t<T> acc[kBlock];
    for (int64_t c0 = b; c0 < e; c0 += kBlock) {
      const int64_t n = std::min(kBlock, e - c0);
      for (int64_t j = 0; j < n; ++j) acc[j] = 0;
      for (int64_t r = 0; r < rows; ++r) {
        const T* row = src + r * cols + c0;
        for (int64_t j = 0; j < n; ++j) acc[j] += row[j];
      }
      for (int64_t j = 0; j < n; ++j) dst[c0 + j] = static_cast<T>(acc[j]);
    }
  });
  return true;
}

template <class T>
void reduce_typed(ReduceOp op, const Tensor& out, const Tensor& in, uint32_t mask) {
  if (op == ReduceOp::Sum && sum_leading_dims<T>(out, in, mask)) return;
  ReducedDims rd(in, mask);
  const T* src = in.data_ptr<T>();
  if (op == ReduceOp::Any || op == ReduceOp::All) {
    bool* dst = out.data_ptr<bool>();
    const bool any = op == ReduceOp::Any;
    for_each_output(out, in, mask, [&](int64_t io, int64_t oo) {
      bool r = !any;
      rd.walk(src + io, [&](const T* p, int64_t s, int64_t n) {
        for (int64_t i = 0; i < n && r == !any; ++i)
          if ((p[i * s] != T(0)) == any) r = any;
      });
      dst[oo] = r;
    });
    return;
  }
  T* dst = out.data_ptr<T>();
  switch (op) {
    case ReduceOp::Sum:
    case ReduceOp::Prod: {
      const bool sum = op == ReduceOp::Sum;
      for_each_output(out, in, mask, [&](int64_t io, int64_t oo) {
        acc_t<T> acc = sum ? 0 : 1;
        rd.walk(src + io, [&](const T* p, int64_t s, int64_t n) {
          if (sum && s == 1) {
            acc_t<T> part = 0;
            for (int64_t i = 0; i < n; ++i) part += p[i];
            acc += part;
          } else if (sum) {
            for (int64_t i = 0; i < n; ++i) acc += p[i * s];
          } else {
            for (int64_t i = 0; i < n; ++i) acc *= p[i * s];
          }
        });
        dst[oo] = static_cast<T>(acc);
      });
      return;
    }
    case ReduceOp::Max:
    case ReduceOp::Min: {
      const bool is_max = op == ReduceOp::Max;
      for_each_output(out, in, mask, [&](int64_t io, int64_t oo) {
        T best = src[io];
        rd.walk(src + io, [&](const T* p, int64_t s, int64_t n) {
          for (int64_t i = 0; i < n; ++i) {
            T x = p[i * s];
            if (x != x || (best == best && (is_max ? x > best : x < best))) best = x;
            if (best != best) break;
          }
        });
        dst[oo] = best;
      });
      return;
    }
    default: break;
  }
}

class CpuReduceKernels final : public ReduceKernels {
 public:
  void reduce(ReduceOp op, const Tensor& out, const Tensor& in, uint32_t dim_mask) override {
    visit_dtype<DTypes::NumericBool>(in.dtype(), "reduce", [&]<class T>() {
      if constexpr (std::is_same_v<T, bool>) {
        MOELAB_CHECK(op == ReduceOp::Any || op == ReduceOp::All || op == ReduceOp::Max || op == ReduceOp::Min,
                     "reduce: bool tensors are summed as integers; cast first");
        if (op == ReduceOp::Max || op == ReduceOp::Min) {  // max of bools = any, min = all
          reduce_typed<T>(op == ReduceOp::Max ? ReduceOp::Any : ReduceOp::All, out, in, dim_mask);
          return;
        }
      }
      reduce_typed<T>(op, out, in, dim_mask);
    });
  }

  void arg_reduce(bool is_max, const Tensor& values, const Tensor& indices, const Tensor& in, int dim) override {
    visit_dtype<DTypes::NumericBool>(in.dtype(), "argmax", [&]<class T>() {
      const T* src = in.data_ptr<T>();
      T* vals = values.data_ptr<T>();
      int64_t* idxs = indices.data_ptr<int64_t>();
      const int64_t n = in.size(dim), s = in.stride(dim);
      // values and indices are fresh contiguous tensors of one shape, so they share offsets.
      for_each_output(values, in, 1u << dim, [&](int64_t io, int64_t oo) {
        const T* p = src + io;
        T best = p[0];
        int64_t bi = 0;
        for (int64_t i = 1; i < n && best == best; ++i) {
          T x = p[i * s];
          if (x != x || (is_max ? x > best : x < best)) {
            best = x;
            bi = i;
          }
        }
        vals[oo] = best;
        idxs[oo] = bi;
      });
    });
  }
};

}  // namespace

ReduceKernels& cpu_reduce_kernels() {
  static CpuReduceKernels k;
  return k;
}

}  // namespace moelab
