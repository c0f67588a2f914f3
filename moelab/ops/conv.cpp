// conv2d and conv_transpose2d: argument checks, output shapes, and the calls into ConvKernels.
// conv_transpose2d is the adjoint of conv2d, so its forward is conv2d's input gradient; its own
// backward is conv2d (input) and conv2d_backward_weight with the roles of x and dy swapped.
#include "moelab/ops/conv.h"

#include "moelab/autograd/function.h"
#include "moelab/backends/conv_kernels.h"
#include "moelab/ops/conv_common.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/reduce.h"

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

// ---- forwards (no autograd; the public ops below record their backward) ----

Tensor conv2d_fwd(const Tensor& input, const Tensor& weight, const Tensor& bias, Int2 stride, Int2 padding,
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

Tensor conv_transpose2d_fwd(const Tensor& input, const Tensor& weight, const Tensor& bias, Int2 stride,
                            Int2 padding, Int2 output_padding, int64_t groups, Int2 dilation) {
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

Tensor backward_input_fwd(const Tensor& grad_out, const Tensor& weight, const Shape& input_shape, Int2 stride,
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

std::tuple<Tensor, Tensor> backward_weight_fwd(const Tensor& grad_out, const Tensor& input, const Shape& weight_shape,
                                               bool with_bias, Int2 stride, Int2 padding, Int2 dilation,
                                               int64_t groups) {
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

}  // namespace

// ---- the public ops: forward without autograd, then the backward node ----
// conv2d(x, w) is bilinear, and so are its two gradients: each backward below is written with the
// other recorded ops of this file, so gradients of gradients (create_graph) work to any order.
//   conv2d                 dx = conv2d_backward_input(g, w)      dw = conv2d_backward_weight(g, x)
//   conv2d_backward_input  dg = conv2d(gg, w)                    dw = conv2d_backward_weight(g, gg)
//   conv2d_backward_weight dg = conv2d(x, ggw) (+ ggb)           dx = conv2d_backward_input(g, ggw)
//   conv_transpose2d       dx = conv2d(g, w)                     dw = conv2d_backward_weight(x, g)

namespace {

// The bias gradient: g summed over all but the channel dim.
Tensor bias_grad(const Tensor& g) { return g.dim() == 3 ? sum(g, {1, 2}) : sum(g, {0, 2, 3}); }

// The bias gradient's adjoint: ggb broadcast over g's shape.
Tensor bias_grad_adjoint(const Tensor& ggb, const Tensor& g) {
  return g.dim() == 3 ? ggb.view({ggb.size(0), 1, 1}).expand(g.shape())
                      : ggb.view({1, ggb.size(0), 1, 1}).expand(g.shape());
}

// t cut to the spatial size of `like` at the bottom/right (a no-op when the sizes agree).
Tensor crop_to(const Tensor& t, const Shape& like) {
  int64_t h = like[like.size() - 2], w = like[like.size() - 1];
  if (t.size(-2) == h && t.size(-1) == w) return t;
  return t.narrow(-2, 0, h).narrow(-1, 0, w);
}

// g zero-extended at the bottom/right to the spatial size `full_hw` (the adjoint of crop_to).
// conv2d_backward_weight accepts a grad_out shorter than conv2d's output (conv_transpose2d's
// weight gradient), conv2d_backward_input does not.
Tensor extend_to(const Tensor& g, std::array<int64_t, 2> full_hw) {
  int64_t h = g.size(-2), w = g.size(-1);
  if (h == full_hw[0] && w == full_hw[1]) return g;
  Shape s = g.shape();
  s[s.size() - 2] = full_hw[0];
  s[s.size() - 1] = full_hw[1];
  Tensor z = zeros(s, {g.dtype(), g.device()});
  {
    autograd::NoGradGuard no_grad;
    z.narrow(-2, 0, h).narrow(-1, 0, w).copy_(g);
  }
  if (autograd::needs_grad({&g}))
    autograd::record_op("conv_grad_extend", {&g}, {&z}, {},
                        [h, w](autograd::FunctionNode::Context&, const std::vector<Tensor>& gg) {
                          return std::vector<Tensor>{gg[0].narrow(-2, 0, h).narrow(-1, 0, w)};
                        });
  return z;
}

}  // namespace

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, Int2 stride, Int2 padding,
              Int2 dilation, int64_t groups) {
  Tensor out;
  {
    autograd::NoGradGuard no_grad;
    out = conv2d_fwd(input, weight, bias, stride, padding, dilation, groups);
  }
  if (autograd::needs_grad({&input, &weight, &bias})) {
    // x is only needed for dw, w only for dx.
    autograd::record_op(
        "conv2d", {&input, &weight, &bias}, {&out},
        {autograd::SavedVariable(weight.requires_grad() ? input : Tensor(), false),
         autograd::SavedVariable(input.requires_grad() ? weight : Tensor(), false)},
        [xs = input.shape(), ws = weight.shape(), stride, padding, dilation, groups](
            autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
          std::vector<Tensor> r(3);
          if (c.needs_input_grad(0))
            r[0] = conv2d_backward_input(g[0], c.saved(1), xs, stride, padding, dilation, groups);
          if (c.needs_input_grad(1)) {
            std::tie(r[1], r[2]) = conv2d_backward_weight(g[0], c.saved(0), ws, c.needs_input_grad(2), stride,
                                                          padding, dilation, groups);
          } else if (c.needs_input_grad(2)) {
            r[2] = bias_grad(g[0]);
          }
          return r;
        });
  }
  return out;
}

Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias, Int2 stride, Int2 padding,
                        Int2 output_padding, int64_t groups, Int2 dilation) {
  Tensor out;
  {
    autograd::NoGradGuard no_grad;
    out = conv_transpose2d_fwd(input, weight, bias, stride, padding, output_padding, groups, dilation);
  }
  if (autograd::needs_grad({&input, &weight, &bias})) {
    autograd::record_op(
        "conv_transpose2d", {&input, &weight, &bias}, {&out},
        {autograd::SavedVariable(weight.requires_grad() ? input : Tensor(), false),
         autograd::SavedVariable(input.requires_grad() ? weight : Tensor(), false)},
        [xs = input.shape(), ws = weight.shape(), stride, padding, dilation, groups](
            autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
          std::vector<Tensor> r(3);
          // With output_padding >= stride, conv2d gives trailing rows that belong to no input row.
          if (c.needs_input_grad(0))
            r[0] = crop_to(conv2d(g[0], c.saved(1), {}, stride, padding, dilation, groups), xs);
          if (c.needs_input_grad(1))
            r[1] = std::get<0>(
                conv2d_backward_weight(c.saved(0), g[0], ws, false, stride, padding, dilation, groups));
          if (c.needs_input_grad(2)) r[2] = bias_grad(g[0]);
          return r;
        });
  }
  return out;
}

Tensor conv2d_backward_input(const Tensor& grad_out, const Tensor& weight, const Shape& input_shape, Int2 stride,
                             Int2 padding, Int2 dilation, int64_t groups) {
  Tensor gx;
  {
    autograd::NoGradGuard no_grad;
    gx = backward_input_fwd(grad_out, weight, input_shape, stride, padding, dilation, groups);
  }
  if (autograd::needs_grad({&grad_out, &weight})) {
    autograd::record_op(
        "conv2d_backward_input", {&grad_out, &weight}, {&gx},
        {autograd::SavedVariable(weight.requires_grad() ? grad_out : Tensor(), false),
         autograd::SavedVariable(grad_out.requires_grad() ? weight : Tensor(), false)},
        [ws = weight.shape(), stride, padding, dilation, groups](autograd::FunctionNode::Context& c,
                                                                  const std::vector<Tensor>& gg) {
          std::vector<Tensor> r(2);
          if (c.needs_input_grad(0)) r[0] = conv2d(gg[0], c.saved(1), {}, stride, padding, dilation, groups);
          if (c.needs_input_grad(1))
            r[1] = std::get<0>(
                conv2d_backward_weight(c.saved(0), gg[0], ws, false, stride, padding, dilation, groups));
          return r;
        });
  }
  return gx;
}

std::tuple<Tensor, Tensor> conv2d_backward_weight(const Tensor& grad_out, const Tensor& input,
                                                  const Shape& weight_shape, bool with_bias, Int2 stride,
                                                  Int2 padding, Int2 dilation, int64_t groups) {
  Tensor gw, gb;
  {
    autograd::NoGradGuard no_grad;
    std::tie(gw, gb) =
        backward_weight_fwd(grad_out, input, weight_shape, with_bias, stride, padding, dilation, groups);
  }
  if (autograd::needs_grad({&grad_out, &input})) {
    // conv2d's full output size: grad_out may be shorter (see backward_weight_fwd).
    std::array<int64_t, 2> full{};
    for (size_t i = 0; i < 2; ++i) {
      auto d = static_cast<int64_t>(i) - 2;
      auto k = weight_shape[static_cast<int>(i) + 2];
      full[i] = (input.size(d) + 2 * padding.arr()[i] - dilation.arr()[i] * (k - 1) - 1) / stride.arr()[i] + 1;
    }
    auto backward = [xs = input.shape(), full, with_bias, stride, padding, dilation, groups](
                        autograd::FunctionNode::Context& c, const std::vector<Tensor>& gg) {
      std::vector<Tensor> r(2);
      const Tensor& ggw = gg[0];
      if (c.needs_input_grad(0)) {
        Tensor g = c.saved(1);
        r[0] = crop_to(conv2d(c.saved(0), ggw, {}, stride, padding, dilation, groups), g.shape());
        if (with_bias) r[0] = r[0] + bias_grad_adjoint(gg[1], g);
      }
      if (c.needs_input_grad(1))
        r[1] = conv2d_backward_input(extend_to(c.saved(1), full), ggw, xs, stride, padding, dilation, groups);
      return r;
    };
    // grad_out is saved for dx (and its shape for dg), input for dg.
    std::vector<autograd::SavedVariable> saved{
        autograd::SavedVariable(grad_out.requires_grad() ? input : Tensor(), false),
        autograd::SavedVariable(grad_out, false)};
    if (with_bias)
      autograd::record_op("conv2d_backward_weight", {&grad_out, &input}, {&gw, &gb}, std::move(saved), backward);
    else
      autograd::record_op("conv2d_backward_weight", {&grad_out, &input}, {&gw}, std::move(saved), backward);
  }
  return {gw, gb};
}

namespace detail {
ConvCacheStats conv_cache_stats(Device device) { return backend_for(device).conv().cache_stats(); }
void clear_conv_cache(Device device) { backend_for(device).conv().clear_cache(); }
}  // namespace detail

}  // namespace moelab
