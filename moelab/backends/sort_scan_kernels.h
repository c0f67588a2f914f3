// Softmax, scans (cumsum/cumprod), topk, sort, and counting (bincount, histc, unique).
//
// Ordering used by sort and topk (PyTorch's): NaN compares greater than every number, so it comes
// last ascending and first descending. Equal keys keep their original order (sort is always
// stable), and topk breaks ties towards the LOWEST index, so MoE routing is deterministic.
#pragma once
#include <cstdint>

#include "moelab/core/tensor.h"

namespace moelab {

enum class ScanOp : uint8_t { Sum, Prod };

class SortScanKernels {
 public:
  virtual ~SortScanKernels() = default;

  // Softmax (or log_softmax when `log`) of in along dim, shifted by the row max. in and out: same
  // shape, same floating dtype (f32/f64), any strides. A row of all -inf gives NaN.
  virtual void softmax(const Tensor& out, const Tensor& in, int dim, bool log) = 0;

  // Inclusive scan along dim; in and out share shape and dtype (any strides, in f32/f64/i32/i64).
  // Floating scans accumulate in double, integer ones in int64.
  virtual void scan(ScanOp op, const Tensor& out, const Tensor& in, int dim) = 0;

  // The k largest (or smallest) entries along dim, best first; values has in's dtype, indices i64,
  // both with size k along dim (0 <= k <= in.size(dim)).
  virtual void topk(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k, int dim,
                    bool largest) = 0;

  // Stable sort along dim. values: in's dtype and shape; indices: i64.
  virtual void sort(const Tensor& values, const Tensor& indices, const Tensor& in, int dim, bool descending) = 0;

  // Groups of equal values in `sorted` (1-d, ascending, as from sort) whose element i came from
  // flat position perm[i] of the input. Writes the group values into values[0, g), their sizes
  // into counts[0, g) and, for each input position p, inverse[p] = its group. values, counts and
  // inverse are contiguous with capacity sorted.numel(); returns g. counts/inverse may be undefined.
  virtual int64_t unique_consecutive(const Tensor& values, const Tensor& inverse, const Tensor& counts,
                                     const Tensor& sorted, const Tensor& perm) = 0;

  // out[in[i]] += weights[i] (or 1 when weights is undefined). in: 1-d i32/i64 with values in
  // [0, out.numel()); weights: 1-d, out's dtype; out: contiguous and zeroed by the caller.
  virtual void bincount(const Tensor& out, const Tensor& in, const Tensor& weights) = 0;

  // Histogram of in (any shape, out's floating dtype) into out.numel() equal bins over [lo, hi]
  // (lo < hi, finite); values outside are ignored, hi falls in the last bin. out is zeroed.
  virtual void histc(const Tensor& out, const Tensor& in, double lo, double hi) = 0;
};

}  // namespace moelab
