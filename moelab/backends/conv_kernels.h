// Convolution and pooling (oneDNN on CPU), forward and backward.
//
// All tensors handed to these kernels are contiguous NCHW (ops/ calls .contiguous() first), batched
// (ops/ adds the batch dim of unbatched input) and already checked. Output shapes are decided by
// ops/ and read from the output tensors, so a kernel never recomputes output-size formulas.
#pragma once
#include <array>
#include <cstdint>

#include "moelab/core/tensor.h"

namespace moelab {

// 2-D convolution geometry, PyTorch's meaning: dilation 1 = dense kernel.
struct Conv2dParams {
  std::array<int64_t, 2> stride{1, 1};
  std::array<int64_t, 2> padding{0, 0};
  std::array<int64_t, 2> dilation{1, 1};
  int64_t groups = 1;
};

// 2-D pooling geometry. ceil_mode is already folded into the output shape; the kernel only needs it
// implicitly (windows may run past the padded input and are clipped there, as in PyTorch).
struct Pool2dParams {
  std::array<int64_t, 2> kernel{1, 1};
  std::array<int64_t, 2> stride{1, 1};
  std::array<int64_t, 2> padding{0, 0};
  std::array<int64_t, 2> dilation{1, 1};  // max pooling only
  bool count_include_pad = true;          // avg pooling only
  int64_t divisor_override = 0;           // avg pooling only; 0 = none
};

// Counters of the primitive cache (oneDNN on CPU): tests use them to prove that repeated calls
// with one geometry build their primitive once.
struct ConvCacheStats {
  int64_t primitives_created = 0;  // primitive descriptors + primitives built (cache misses)
  int64_t hits = 0;
  int64_t size = 0;  // entries held now
};

class ConvKernels {
 public:
  virtual ~ConvKernels() = default;

  // ---- convolution ----
  // out [N,O,OH,OW] = conv(input [N,C,H,W], weight [O,C/groups,kH,kW]) + bias [O] (bias may be
  // undefined).
  virtual void conv2d(const Tensor& out, const Tensor& input, const Tensor& weight, const Tensor& bias,
                      const Conv2dParams& p) = 0;
  // grad_input [N,C,H,W] of conv2d for grad_out [N,O,OH,OW]. Input rows/cols that no window reaches
  // get zero. This is also the forward of conv_transpose2d.
  virtual void conv2d_backward_input(const Tensor& grad_input, const Tensor& grad_out, const Tensor& weight,
                                     const Conv2dParams& p) = 0;
  // grad_weight [O,C/groups,kH,kW] and grad_bias [O] (may be undefined) of conv2d.
  virtual void conv2d_backward_weight(const Tensor& grad_weight, const Tensor& grad_bias, const Tensor& grad_out,
                                      const Tensor& input, const Conv2dParams& p) = 0;

  // ---- pooling ----
  // values [N,C,OH,OW] and indices (i64, flat index h*W+w within the input plane, as in PyTorch;
  // NaN counts as the maximum, ties keep the first).
  virtual void max_pool2d(const Tensor& values, const Tensor& indices, const Tensor& input,
                          const Pool2dParams& p) = 0;
  // grad_input (zero-filled here) += grad_out scattered through indices.
  virtual void max_pool2d_backward(const Tensor& grad_input, const Tensor& grad_out, const Tensor& indices) = 0;
  virtual void avg_pool2d(const Tensor& out, const Tensor& input, const Pool2dParams& p) = 0;
  virtual void avg_pool2d_backward(const Tensor& grad_input, const Tensor& grad_out, const Pool2dParams& p) = 0;
  // Window i of an output of size O over an input of size I spans [floor(i*I/O), ceil((i+1)*I/O)).
  virtual void adaptive_avg_pool2d(const Tensor& out, const Tensor& input) = 0;
  virtual void adaptive_avg_pool2d_backward(const Tensor& grad_input, const Tensor& grad_out) = 0;

  // ---- introspection ----
  virtual ConvCacheStats cache_stats() const = 0;
  virtual void clear_cache() = 0;
};

}  // namespace moelab
