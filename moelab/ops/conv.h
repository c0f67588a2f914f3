// Convolution and pooling, as torch.nn.functional: NCHW layout, batched [N,C,H,W] or unbatched
// [C,H,W] input, f32 and f64.
//
//   Tensor y = conv2d(x, w, b, /*stride=*/1, /*padding=*/1);
//   Tensor z = max_pool2d(y, 2);                         // stride defaults to kernel_size
//   auto [v, idx] = max_pool2d_with_indices(y, {3, 2}, {2, 1}, 1);
//
// All ops are differentiable (autograd): conv2d and conv_transpose2d in input, weight and bias,
// the pools in their input; the max-pool indices never require grad.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <tuple>

#include "moelab/backends/conv_kernels.h"
#include "moelab/core/tensor.h"

namespace moelab {

// An int or an (h, w) pair, like PyTorch's `int | tuple[int, int]` arguments: 2 or {2, 3}.
struct Int2 {
  int64_t h, w;
  Int2(int64_t v) : h(v), w(v) {}  // NOLINT: implicit on purpose
  Int2(int64_t h_, int64_t w_) : h(h_), w(w_) {}
  std::array<int64_t, 2> arr() const { return {h, w}; }
};

// input [N,C,H,W], weight [O, C/groups, kH, kW], bias [O] or undefined -> [N,O,OH,OW].
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = {}, Int2 stride = 1, Int2 padding = 0,
              Int2 dilation = 1, int64_t groups = 1);
// input [N,C,H,W], weight [C, O/groups, kH, kW], bias [O] or undefined -> [N,O,OH,OW] with
// OH = (H-1)*stride - 2*padding + dilation*(kH-1) + output_padding + 1 (the adjoint of conv2d).
Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias = {}, Int2 stride = 1,
                        Int2 padding = 0, Int2 output_padding = 0, int64_t groups = 1, Int2 dilation = 1);

// stride defaults to kernel_size. Padded positions never win.
Tensor max_pool2d(const Tensor& input, Int2 kernel_size, std::optional<Int2> stride = std::nullopt,
                  Int2 padding = 0, Int2 dilation = 1, bool ceil_mode = false);
// (values, indices): indices are i64 flat positions h*W + w within each input plane, as in PyTorch.
std::tuple<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input, Int2 kernel_size,
                                                   std::optional<Int2> stride = std::nullopt, Int2 padding = 0,
                                                   Int2 dilation = 1, bool ceil_mode = false);
Tensor avg_pool2d(const Tensor& input, Int2 kernel_size, std::optional<Int2> stride = std::nullopt, Int2 padding = 0,
                  bool ceil_mode = false, bool count_include_pad = true,
                  std::optional<int64_t> divisor_override = std::nullopt);
Tensor adaptive_avg_pool2d(const Tensor& input, Int2 output_size);

// ---- gradients: what the ops above record as their backward. Each is differentiable itself
// (linear in grad_out, conv2d's also in weight/input), so gradients of gradients work. ----
// d(conv2d)/d(input) for an input of shape input_shape ([N,C,H,W] or [C,H,W]).
Tensor conv2d_backward_input(const Tensor& grad_out, const Tensor& weight, const Shape& input_shape, Int2 stride = 1,
                             Int2 padding = 0, Int2 dilation = 1, int64_t groups = 1);
// (grad_weight, grad_bias); grad_bias is undefined unless with_bias.
std::tuple<Tensor, Tensor> conv2d_backward_weight(const Tensor& grad_out, const Tensor& input,
                                                  const Shape& weight_shape, bool with_bias, Int2 stride = 1,
                                                  Int2 padding = 0, Int2 dilation = 1, int64_t groups = 1);
Tensor max_pool2d_backward(const Tensor& grad_out, const Shape& input_shape, const Tensor& indices);
Tensor avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape, Int2 kernel_size,
                           std::optional<Int2> stride = std::nullopt, Int2 padding = 0, bool ceil_mode = false,
                           bool count_include_pad = true, std::optional<int64_t> divisor_override = std::nullopt);
Tensor adaptive_avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape);

namespace detail {
// The CPU primitive cache behind conv2d (f32): how many primitives were built, hits, entries.
ConvCacheStats conv_cache_stats(Device device = kCPU);
void clear_conv_cache(Device device = kCPU);
}  // namespace detail

}  // namespace moelab
