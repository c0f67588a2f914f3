// conv2d and conv_transpose2d: argument checks, output shapes, and the calls into ConvKernels.
// conv_transpose2d is the adjoint of conv2d, so its forward is conv2d's input gradient; its own
// backward will be conv2d (input) and conv2d_backward_weight with the roles of x and dy swapped.
#include "moelab/ops/conv.h"

#include "moelab/backends/conv_kernels.h"
#include "moelab/ops/conv_common.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"

namespace moelab {
using detail::backend_of;

namespace {

Conv2dParams make_params(Int2 stride, Int2 padding, Int2 dilation, int64_t groups, const char* op) {
  detail::check_positive(stride, op, "stride");
  detail::check_non_negative(padding, op, "padding");
  detail::check_positive(dilation, op, "dilation");
  MOELAB_CHECK(groups > 0, op, ": groups must be positive, got ", groups);
  return {stride.arr(), padding.arr(), dilation.arr(), groups};
}

void check_bias(const Tensor& bias, const Tensor& input, int64_t out_channels, const char* op) {
  if (!bias.defined()) return;
  detail::check_conv_dtype(bias, op, "bias");
  MOELAB_CHECK(bias.dim() == 1 && bias.size(0) == out_channels, op, ": expected bias of shape [", out_channels,
               "], got ", bias.shape());
  MOELAB_CHECK(bias.dtype() == input.dtype(), op, ": bias dtype ", bias.dtype(), " differs from input dtype ",
               input.dtype());
  detail::check_same_device({&input, &bias}, op);
}

// The checks both directions share: dtypes, devices, ranks.
void check_inputs(const Tensor& input, const Tensor& weight, const char* op) {
  detail::check_conv_dtype(input, op, "input");
  detail::check_conv_dtype(weight, op, "weight");
  MOELAB_CHECK(input.dtype() == weight.dtype(), op, ": input dtype ", input.dtype(), " and weight dtype ",
               weight.dtype(), " differ");
  detail::check_same_device({&input, &weight}, op);
  MOELAB_CHECK(weight.dim() == 4, op, ": expected weight of rank 4, got shape ", weight.shape());
  MOELAB_CHECK(input.dim() == 3 || input.dim() == 4, op, ": expected input of shape [N, C, H, W] or [C, H, W], got ",
               input.shape());
}

// conv2d's output shape for a 4-D input, after checking that the window fits the padded input.
Shape conv_out_shape(const Shape& x, const Shape& w, const Conv2dParams& p, const char* op) {
  MOELAB_CHECK(w[2] > 0 && w[3] > 0, op, ": kernel size must be positive, got weight shape ", w);
  Shape out{x[0], w[0], 0, 0};
  for (int i = 0; i < 2; ++i) {
    int64_t padded = x[2 + i] + 2 * p.padding[static_cast<size_t>(i)];
    int64_t extent = p.dilation[static_cast<size_t>(i)] * (w[2 + i] - 1) + 1;
    MOELAB_CHECK(padded >= extent, op, ": padded input size (", padded, ") is smaller than the dilated kernel size (",
                 extent, ") in dim ", 2 + i, " (input shape ", x, ", weight shape ", w, ", padding ",
                 p.padding[static_cast<size_t>(i)], ", dilation ", p.dilation[static_cast<size_t>(i)], ")");
    out[2 + i] = (padded - extent) / p.stride[static_cast<size_t>(i)] + 1;
  }
  return out;
}

void check_conv_channels(const Shape& x, const Shape& w, int64_t groups, const char* op) {
  MOELAB_CHECK(w[0] % groups == 0, op, ": out channels (weight shape ", w, ") must be divisible by groups=", groups);
  MOELAB_CHECK(x[1] == w[1] * groups, op, ": input has ", x[1], " channels but weight shape ", w, " with groups=",
               groups, " expects ", w[1] * groups, " (input shape ", x, ")");
}

void add_bias_(Tensor& out, const Tensor& bias) {
  if (bias.defined()) add_(out, bias.view({1, bias.size(0), 1, 1}));
}

}  // namespace

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, Int2 stride, Int2 padding,
              Int2 dilation, int64_t groups) {
  const char* op = "conv2d";
  check_inputs(input, weight, op);
  Conv2dParams p = make_params(stride, padding, dilation, groups, op);
  Tensor x = detail::batched_nchw(input, op);
  check_conv_channels(x.shape(), weight.shape(), groups, op);
  check_bias(bias, input, weight.size(0), op);
  Tensor out = make_empty(conv_out_shape(x.shape(), weight.shape(), p, op), x.dtype(), x.device());
  if (out.numel() == 0) return detail::unbatch_like(out, input.dim());
  if (weight.numel() == 0) {  // no input channels: only the bias is left
    out.zero_();
    add_bias_(out, bias);
  } else {
    backend_of(x).conv().conv2d(out, x, weight.contiguous(), bias.defined() ? bias.contiguous() : Tensor(), p);
  }
  return detail::unbatch_like(out, input.dim());
}

Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias, Int2 stride, Int2 padding,
                        Int2 output_padding, int64_t groups, Int2 dilation) {
  const char* op = "conv_transpose2d";
  check_inputs(input, weight, op);
  Conv2dParams p = make_params(stride, padding, dilation, groups, op);
  detail::check_non_negative(output_padding, op, "output_padding");
  Tensor x = detail::batched_nchw(input, op);
  const Shape& w = weight.shape();
  MOELAB_CHECK(w[0] % groups == 0, op, ": in channels (weight shape ", w, ") must be divisible by groups=", groups);
  MOELAB_CHECK(x.size(1) == w[0], op, ": input has ", x.size(1), " channels but weight shape ", w, " expects ", w[0],
               " (input shape ", input.shape(), ")");
  MOELAB_CHECK(w[2] > 0 && w[3] > 0, op, ": kernel size must be positive, got weight shape ", w);
  int64_t out_channels = w[1] * groups;
  check_bias(bias, input, out_channels, op);
  Shape out_shape{x.size(0), out_channels, 0, 0};
  auto op_arr = output_padding.arr();
  for (size_t i = 0; i < 2; ++i) {
    MOELAB_CHECK(op_arr[i] < p.stride[i] || op_arr[i] < p.dilation[i], op, ": output_padding (", op_arr[i],
                 ") must be smaller than either stride (", p.stride[i], ") or dilation (", p.dilation[i], ")");
    int64_t size = (x.size(2 + static_cast<int>(i)) - 1) * p.stride[i] - 2 * p.padding[i] +
                   p.dilation[i] * (w[2 + static_cast<int>(i)] - 1) + op_arr[i] + 1;
    MOELAB_CHECK(size > 0, op, ": output size ", size, " is not positive in dim ", 2 + i, " (input shape ",
                 input.shape(), ", weight shape ", w, ", padding ", p.padding[i], ")");
    out_shape[2 + static_cast<int>(i)] = size;
  }
  Tensor out = make_empty(out_shape, x.dtype(), x.device());
  if (out.numel() == 0) return detail::unbatch_like(out, input.dim());
  if (x.numel() == 0 || weight.numel() == 0) {
    out.zero_();
  } else {
    backend_of(x).conv().conv2d_backward_input(out, x, weight.contiguous(), p);
  }
  add_bias_(out, bias);
  return detail::unbatch_like(out, input.dim());
}

Tensor conv2d_backward_input(const Tensor& grad_out, const Tensor& weight, const Shape& input_shape, Int2 stride,
                             Int2 padding, Int2 dilation, int64_t groups) {
  const char* op = "conv2d_backward_input";
  check_inputs(grad_out, weight, op);
  Conv2dParams p = make_params(stride, padding, dilation, groups, op);
  MOELAB_CHECK(input_shape.size() == grad_out.dim(), op, ": input shape ", input_shape, " and grad_out shape ",
               grad_out.shape(), " have different ranks");
  Tensor gy = detail::batched_nchw(grad_out, op, "grad_out");
  Shape xs = input_shape.size() == 3 ? Shape{1, input_shape[0], input_shape[1], input_shape[2]} : input_shape;
  check_conv_channels(xs, weight.shape(), groups, op);
  MOELAB_CHECK(conv_out_shape(xs, weight.shape(), p, op) == gy.shape(), op, ": grad_out shape ", grad_out.shape(),
               " does not match conv2d's output for input shape ", input_shape, " and weight shape ", weight.shape());
  Tensor gx = make_empty(xs, gy.dtype(), gy.device());
  if (gx.numel() == 0) return detail::unbatch_like(gx, grad_out.dim());
  if (gy.numel() == 0) {
    gx.zero_();
  } else {
    backend_of(gy).conv().conv2d_backward_input(gx, gy, weight.contiguous(), p);
  }
  return detail::unbatch_like(gx, grad_out.dim());
}

std::tuple<Tensor, Tensor> conv2d_backward_weight(const Tensor& grad_out, const Tensor& input,
                                                  const Shape& weight_shape, bool with_bias, Int2 stride,
                                                  Int2 padding, Int2 dilation, int64_t groups) {
  const char* op = "conv2d_backward_weight";
  detail::check_conv_dtype(input, op, "input");
  detail::check_conv_dtype(grad_out, op, "grad_out");
  detail::check_same_device({&input, &grad_out}, op);
  MOELAB_CHECK(grad_out.dtype() == input.dtype(), op, ": grad_out dtype ", grad_out.dtype(),
               " and input dtype ", input.dtype(), " differ");
  Conv2dParams p = make_params(stride, padding, dilation, groups, op);
  MOELAB_CHECK(weight_shape.size() == 4, op, ": expected a weight shape of rank 4, got ", weight_shape);
  MOELAB_CHECK(input.dim() == grad_out.dim(), op, ": input shape ", input.shape(), " and grad_out shape ",
               grad_out.shape(), " have different ranks");
  Tensor x = detail::batched_nchw(input, op);
  Tensor gy = detail::batched_nchw(grad_out, op, "grad_out");
  check_conv_channels(x.shape(), weight_shape, groups, op);
  // grad_out may be shorter than conv2d's output at the bottom/right: conv_transpose2d's weight
  // gradient is this function with x and dy swapped, and its output_padding can leave input rows
  // that no window reaches.
  Shape full = conv_out_shape(x.shape(), weight_shape, p, op);
  MOELAB_CHECK(gy.size(0) == full[0] && gy.size(1) == full[1] && gy.size(2) >= 1 && gy.size(2) <= full[2] &&
                   gy.size(3) >= 1 && gy.size(3) <= full[3],
               op, ": grad_out shape ", grad_out.shape(), " does not match conv2d's output ", full,
               " for input shape ", input.shape(), " and weight shape ", weight_shape);
  Tensor gw = make_empty(weight_shape, x.dtype(), x.device());
  Tensor gb = with_bias ? make_empty({weight_shape[0]}, x.dtype(), x.device()) : Tensor();
  if (gw.numel() > 0 && gy.numel() > 0) {
    backend_of(x).conv().conv2d_backward_weight(gw, gb, gy, x, p);
  } else {
    gw.zero_();
    if (gb.defined()) gb.copy_(gy.sum({0, 2, 3}));
  }
  return {gw, gb};
}

namespace detail {
ConvCacheStats conv_cache_stats(Device device) { return backend_for(device).conv().cache_stats(); }
void clear_conv_cache(Device device) { backend_for(device).conv().clear_cache(); }
}  // namespace detail

}  // namespace moelab
