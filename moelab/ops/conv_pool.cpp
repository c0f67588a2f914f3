// max_pool2d, avg_pool2d, adaptive_avg_pool2d and their gradients: argument checks and output
// shapes (PyTorch's pooling_output_shape and pool2d_shape_check), then ConvKernels.
// Autograd: each pooling op is linear in its input (max pooling given its indices), and each
// gradient op is linear in grad_out, with the forward op (or, for max pooling, a gather at the
// indices) as its adjoint; all are recorded, so gradients of gradients work.
#include "moelab/autograd/function.h"
#include "moelab/backends/conv_kernels.h"
#include "moelab/ops/conv.h"
#include "moelab/ops/conv_common.h"
#include "moelab/ops/indexing.h"

namespace moelab {
using detail::backend_of;

namespace {

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// PyTorch's pooling_output_shape: in ceil mode the last window must start inside the input or its
// left padding.
int64_t pool_out_size(int64_t in, int64_t k, int64_t s, int64_t pad, int64_t d, bool ceil_mode) {
  int64_t out = floor_div(in + 2 * pad - d * (k - 1) - 1 + (ceil_mode ? s - 1 : 0), s) + 1;
  if (ceil_mode && (out - 1) * s >= in + pad) --out;
  return out;
}

struct PoolSetup {
  Pool2dParams p;
  Shape out_shape;
};

// Checks shared by max and avg pooling; `input_shape` is the (possibly unbatched) input's shape.
PoolSetup setup_pool(const Tensor& input, const Shape& input_shape, Int2 kernel, std::optional<Int2> stride,
                     Int2 padding, Int2 dilation, bool ceil_mode, const char* op) {
  detail::check_conv_dtype(input, op, "input");
  MOELAB_CHECK(input_shape.size() == 3 || input_shape.size() == 4, op,
               ": expected input of shape [N, C, H, W] or [C, H, W], got ", input_shape);
  detail::check_positive(kernel, op, "kernel_size");
  Int2 st = stride.value_or(kernel);
  detail::check_positive(st, op, "stride");
  detail::check_non_negative(padding, op, "padding");
  detail::check_positive(dilation, op, "dilation");
  MOELAB_CHECK(padding.h <= kernel.h / 2 && padding.w <= kernel.w / 2, op, ": padding (", padding.h, ", ", padding.w,
               ") must be at most half of kernel_size (", kernel.h, ", ", kernel.w, ")");
  Shape xs = input_shape.size() == 3 ? Shape{1, input_shape[0], input_shape[1], input_shape[2]} : input_shape;
  MOELAB_CHECK(xs[1] > 0 && xs[2] > 0 && xs[3] > 0, op, ": expected non-zero channel and spatial sizes, got input shape ",
               input_shape);
  Pool2dParams p{kernel.arr(), st.arr(), padding.arr(), dilation.arr(), true, 0};
  Shape out{xs[0], xs[1], 0, 0};
  for (int i = 0; i < 2; ++i) {
    auto u = static_cast<size_t>(i);
    out[2 + i] = pool_out_size(xs[2 + i], p.kernel[u], p.stride[u], p.padding[u], p.dilation[u], ceil_mode);
  }
  MOELAB_CHECK(out[2] >= 1 && out[3] >= 1, op, ": input shape ", input_shape, " gives output size (", out[2], ", ",
               out[3], ") with kernel_size (", kernel.h, ", ", kernel.w, "), padding (", padding.h, ", ", padding.w,
               "), dilation (", dilation.h, ", ", dilation.w, "): output size is too small");
  return {p, out};
}

Shape batched_shape(const Shape& s) { return s.size() == 3 ? Shape{1, s[0], s[1], s[2]} : s; }

void check_grad_out(const Tensor& grad_out, const Shape& expected_batched, const Shape& input_shape, const char* op) {
  detail::check_conv_dtype(grad_out, op, "grad_out");
  MOELAB_CHECK(grad_out.dim() == input_shape.size() && batched_shape(grad_out.shape()) == expected_batched, op,
               ": grad_out shape ", grad_out.shape(), " does not match the output shape for input shape ", input_shape);
}

}  // namespace

std::tuple<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input, Int2 kernel_size, std::optional<Int2> stride,
                                                   Int2 padding, Int2 dilation, bool ceil_mode) {
  const char* op = "max_pool2d";
  detail::check_defined(input, op);
  PoolSetup s = setup_pool(input, input.shape(), kernel_size, stride, padding, dilation, ceil_mode, op);
  Tensor values, indices;
  {
    autograd::NoGradGuard no_grad;
    Tensor x = detail::batched_nchw(input, op);
    values = make_empty(s.out_shape, x.dtype(), x.device());
    indices = make_empty(s.out_shape, kI64, x.device());
    if (values.numel() > 0) backend_of(x).conv().max_pool2d(values, indices, x, s.p);
    values = detail::unbatch_like(values, input.dim());
    indices = detail::unbatch_like(indices, input.dim());
  }
  if (autograd::needs_grad({&input}))
    autograd::record_op("max_pool2d", {&input}, {&values, &indices}, {autograd::SavedVariable(indices, false)},
                        [xs = input.shape()](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
                          return std::vector<Tensor>{max_pool2d_backward(g[0], xs, c.saved(0))};
                        });
  return {values, indices};
}

Tensor max_pool2d(const Tensor& input, Int2 kernel_size, std::optional<Int2> stride, Int2 padding, Int2 dilation,
                  bool ceil_mode) {
  return std::get<0>(max_pool2d_with_indices(input, kernel_size, stride, padding, dilation, ceil_mode));
}

namespace {

Tensor max_pool2d_backward_fwd(const Tensor& grad_out, const Shape& input_shape, const Tensor& indices) {
  const char* op = "max_pool2d_backward";
  detail::check_conv_dtype(grad_out, op, "grad_out");
  detail::check_defined(indices, op, "indices");
  MOELAB_CHECK(indices.dtype() == kI64 && indices.shape() == grad_out.shape(), op, ": indices (", indices.dtype(),
               ", shape ", indices.shape(), ") must be i64 with grad_out's shape ", grad_out.shape());
  detail::check_same_device({&grad_out, &indices}, op);
  MOELAB_CHECK((input_shape.size() == 3 || input_shape.size() == 4) && grad_out.dim() == input_shape.size(), op,
               ": input shape ", input_shape, " and grad_out shape ", grad_out.shape(), " do not match");
  Shape xs = batched_shape(input_shape);
  Tensor gy = detail::batched_nchw(grad_out, op, "grad_out");
  MOELAB_CHECK(gy.size(0) == xs[0] && gy.size(1) == xs[1], op, ": grad_out shape ", grad_out.shape(),
               " does not match input shape ", input_shape);
  Tensor idx = detail::batched_nchw(indices, op, "indices");
  Tensor gx = make_empty(xs, gy.dtype(), gy.device());
  if (gx.numel() == 0) return detail::unbatch_like(gx, grad_out.dim());
  if (gy.numel() == 0) return detail::unbatch_like(gx.zero_(), grad_out.dim());
  // Indices come from the caller: an out-of-plane one would write out of bounds.
  int64_t plane = xs[2] * xs[3];
  MOELAB_CHECK(idx.min().item<int64_t>() >= 0 && idx.max().item<int64_t>() < plane, op,
               ": indices must lie in [0, ", plane, ") for input shape ", input_shape);
  backend_of(gy).conv().max_pool2d_backward(gx, gy, idx);
  return detail::unbatch_like(gx, grad_out.dim());
}

// The adjoint of max_pool2d_backward: src (shaped like the pooled input) read at the indices,
// which is also max pooling's output given its indices. Recorded, with max_pool2d_backward as its
// backward.
Tensor max_pool2d_gather(const Tensor& src, const Tensor& indices) {
  Tensor out;
  {
    autograd::NoGradGuard no_grad;
    Shape s = src.shape(), is = indices.shape();
    int64_t n = s.size() == 4 ? s[0] * s[1] : s[0];
    out = gather(src.reshape({n, s[s.size() - 2] * s[s.size() - 1]}), 1,
                 indices.reshape({n, is[is.size() - 2] * is[is.size() - 1]}))
              .view(is);
  }
  if (autograd::needs_grad({&src}))
    autograd::record_op("max_pool2d_gather", {&src}, {&out}, {autograd::SavedVariable(indices, false)},
                        [xs = src.shape()](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
                          return std::vector<Tensor>{max_pool2d_backward(g[0], xs, c.saved(0))};
                        });
  return out;
}

}  // namespace

Tensor max_pool2d_backward(const Tensor& grad_out, const Shape& input_shape, const Tensor& indices) {
  Tensor gx;
  {
    autograd::NoGradGuard no_grad;
    gx = max_pool2d_backward_fwd(grad_out, input_shape, indices);
  }
  if (autograd::needs_grad({&grad_out}))
    autograd::record_op("max_pool2d_backward", {&grad_out}, {&gx}, {autograd::SavedVariable(indices, false)},
                        [](autograd::FunctionNode::Context& c, const std::vector<Tensor>& gg) {
                          return std::vector<Tensor>{max_pool2d_gather(gg[0], c.saved(0))};
                        });
  return gx;
}

namespace {
PoolSetup setup_avg(const Tensor& t, const Shape& input_shape, Int2 kernel_size, std::optional<Int2> stride,
                    Int2 padding, bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override,
                    const char* op) {
  PoolSetup s = setup_pool(t, input_shape, kernel_size, stride, padding, 1, ceil_mode, op);
  MOELAB_CHECK(!divisor_override || *divisor_override != 0, op, ": divisor_override must not be zero");
  s.p.count_include_pad = count_include_pad;
  s.p.divisor_override = divisor_override.value_or(0);
  return s;
}
}  // namespace

Tensor avg_pool2d(const Tensor& input, Int2 kernel_size, std::optional<Int2> stride, Int2 padding, bool ceil_mode,
                  bool count_include_pad, std::optional<int64_t> divisor_override) {
  const char* op = "avg_pool2d";
  detail::check_defined(input, op);
  PoolSetup s = setup_avg(input, input.shape(), kernel_size, stride, padding, ceil_mode, count_include_pad,
                          divisor_override, op);
  Tensor out;
  {
    autograd::NoGradGuard no_grad;
    Tensor x = detail::batched_nchw(input, op);
    out = make_empty(s.out_shape, x.dtype(), x.device());
    if (out.numel() > 0) backend_of(x).conv().avg_pool2d(out, x, s.p);
    out = detail::unbatch_like(out, input.dim());
  }
  if (autograd::needs_grad({&input}))
    autograd::record_op("avg_pool2d", {&input}, {&out}, {},
                        [xs = input.shape(), kernel_size, stride, padding, ceil_mode, count_include_pad,
                         divisor_override](autograd::FunctionNode::Context&, const std::vector<Tensor>& g) {
                          return std::vector<Tensor>{avg_pool2d_backward(g[0], xs, kernel_size, stride, padding,
                                                                         ceil_mode, count_include_pad,
                                                                         divisor_override)};
                        });
  return out;
}

Tensor avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape, Int2 kernel_size,
                           std::optional<Int2> stride, Int2 padding, bool ceil_mode, bool count_include_pad,
                           std::optional<int64_t> divisor_override) {
  const char* op = "avg_pool2d_backward";
  detail::check_defined(grad_out, op, "grad_out");
  PoolSetup s = setup_avg(grad_out, input_shape, kernel_size, stride, padding, ceil_mode, count_include_pad,
                          divisor_override, op);
  check_grad_out(grad_out, s.out_shape, input_shape, op);
  Tensor gx;
  {
    autograd::NoGradGuard no_grad;
    Tensor gy = detail::batched_nchw(grad_out, op, "grad_out");
    gx = make_empty(batched_shape(input_shape), gy.dtype(), gy.device());
    if (gx.numel() > 0) backend_of(gy).conv().avg_pool2d_backward(gx, gy, s.p);
    gx = detail::unbatch_like(gx, grad_out.dim());
  }
  if (autograd::needs_grad({&grad_out}))
    autograd::record_op("avg_pool2d_backward", {&grad_out}, {&gx}, {},
                        [kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override](
                            autograd::FunctionNode::Context&, const std::vector<Tensor>& gg) {
                          return std::vector<Tensor>{avg_pool2d(gg[0], kernel_size, stride, padding, ceil_mode,
                                                                count_include_pad, divisor_override)};
                        });
  return gx;
}

namespace {
Shape adaptive_out_shape(const Shape& input_shape, Int2 output_size, const char* op) {
  MOELAB_CHECK(input_shape.size() == 3 || input_shape.size() == 4, op,
               ": expected input of shape [N, C, H, W] or [C, H, W], got ", input_shape);
  detail::check_non_negative(output_size, op, "output_size");
  Shape xs = batched_shape(input_shape);
  MOELAB_CHECK(xs[1] > 0 && xs[2] > 0 && xs[3] > 0, op, ": expected non-zero channel and spatial sizes, got input shape ",
               input_shape);
  return {xs[0], xs[1], output_size.h, output_size.w};
}
}  // namespace

Tensor adaptive_avg_pool2d(const Tensor& input, Int2 output_size) {
  const char* op = "adaptive_avg_pool2d";
  detail::check_conv_dtype(input, op, "input");
  Shape out_shape = adaptive_out_shape(input.shape(), output_size, op);
  Tensor out;
  {
    autograd::NoGradGuard no_grad;
    Tensor x = detail::batched_nchw(input, op);
    out = make_empty(out_shape, x.dtype(), x.device());
    if (out.numel() > 0) backend_of(x).conv().adaptive_avg_pool2d(out, x);
    out = detail::unbatch_like(out, input.dim());
  }
  if (autograd::needs_grad({&input}))
    autograd::record_op("adaptive_avg_pool2d", {&input}, {&out}, {},
                        [xs = input.shape()](autograd::FunctionNode::Context&, const std::vector<Tensor>& g) {
                          return std::vector<Tensor>{adaptive_avg_pool2d_backward(g[0], xs)};
                        });
  return out;
}

Tensor adaptive_avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape) {
  const char* op = "adaptive_avg_pool2d_backward";
  detail::check_conv_dtype(grad_out, op, "grad_out");
  MOELAB_CHECK(grad_out.dim() == 3 || grad_out.dim() == 4, op, ": expected grad_out of rank 3 or 4, got shape ",
               grad_out.shape());
  Shape out_shape = adaptive_out_shape(input_shape, {grad_out.size(-2), grad_out.size(-1)}, op);
  check_grad_out(grad_out, out_shape, input_shape, op);
  Tensor gx;
  {
    autograd::NoGradGuard no_grad;
    Tensor gy = detail::batched_nchw(grad_out, op, "grad_out");
    gx = make_empty(batched_shape(input_shape), gy.dtype(), gy.device());
    if (gx.numel() > 0 && gy.numel() == 0) gx.zero_();
    else if (gx.numel() > 0) backend_of(gy).conv().adaptive_avg_pool2d_backward(gx, gy);
    gx = detail::unbatch_like(gx, grad_out.dim());
  }
  if (autograd::needs_grad({&grad_out}))
    autograd::record_op("adaptive_avg_pool2d_backward", {&grad_out}, {&gx}, {},
                        [out_hw = Int2(grad_out.size(-2), grad_out.size(-1))](autograd::FunctionNode::Context&,
                                                                               const std::vector<Tensor>& gg) {
                          return std::vector<Tensor>{adaptive_avg_pool2d(gg[0], out_hw)};
                        });
  return gx;
}

}  // namespace moelab
