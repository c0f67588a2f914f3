#include "moelab/nn/conv.h"

#include <array>
#include <cmath>

#include "moelab/nn/init.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/shape_ops.h"

namespace moelab {
namespace {

struct SidePads {
  int64_t t, b, l, r;
};

// "same": dilation * (k - 1) in total per dim, the odd one at the bottom/right (as PyTorch).
SidePads same_pads(Int2 kernel, Int2 dilation) {
  const int64_t th = dilation.h * (kernel.h - 1), tw = dilation.w * (kernel.w - 1);
  return {th / 2, th - th / 2, tw / 2, tw - tw / 2};
}

// Zero padding, possibly asymmetric: the extra bottom/right rows go in by an explicit pad, the
// symmetric part through the convolution itself.
Tensor conv_zero_padded(const Tensor& x, const Tensor& w, const Tensor& b, Int2 stride, const SidePads& p,
                        Int2 dilation, int64_t groups) {
  if (p.t == p.b && p.l == p.r) return conv2d(x, w, b, stride, Int2(p.t, p.l), dilation, groups);
  Tensor padded = pad(x, {0, p.r - p.l, 0, p.b - p.t});
  return conv2d(padded, w, b, stride, Int2(p.t, p.l), dilation, groups);
}

}  // namespace

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, Int2 stride,
              const ConvPaddingString& padding_string, Int2 dilation, int64_t groups) {
  const std::string& padding = padding_string.value;
  MOELAB_CHECK(padding == "same" || padding == "valid", "conv2d: padding must be \"same\", \"valid\" or a size, got \"",
               padding, "\"");
  if (padding == "valid") return conv2d(input, weight, bias, stride, Int2(0), dilation, groups);
  MOELAB_CHECK(stride.h == 1 && stride.w == 1, "conv2d: padding=\"same\" needs stride 1, got (", stride.h, ", ",
               stride.w, ")");
  MOELAB_CHECK(weight.defined() && weight.dim() == 4, "conv2d: expected weight of rank 4, got shape ",
               weight.defined() ? weight.shape() : Shape{});
  return conv_zero_padded(input, weight, bias, stride, same_pads({weight.size(2), weight.size(3)}, dilation), dilation,
                          groups);
}

}  // namespace moelab

namespace moelab::nn {
namespace {

void check_positive(Int2 v, const char* layer, const char* what) {
  MOELAB_CHECK(v.h > 0 && v.w > 0, layer, ": ", what, " must be positive, got (", v.h, ", ", v.w, ")");
}
void check_non_negative(Int2 v, const char* layer, const char* what) {
  MOELAB_CHECK(v.h >= 0 && v.w >= 0, layer, ": ", what, " must be non-negative, got (", v.h, ", ", v.w, ")");
}

// Checks the channel/group arithmetic and returns in_channels, so it can run in an init list.
int64_t check_channels(int64_t in, int64_t out, int64_t groups, const char* layer) {
  MOELAB_CHECK(in >= 0 && out >= 0, layer, ": channel counts must be non-negative, got in_channels=", in,
               ", out_channels=", out);
  MOELAB_CHECK(groups > 0, layer, ": groups must be a positive integer, got ", groups);
  MOELAB_CHECK(in % groups == 0, layer, ": in_channels (", in, ") must be divisible by groups (", groups, ")");
  MOELAB_CHECK(out % groups == 0, layer, ": out_channels (", out, ") must be divisible by groups (", groups, ")");
  return in;
}

// PyTorch's _ConvNd.reset_parameters: fan_in from the weight's dim 1 and kernel, for both layers.
void reset_conv(Tensor& weight, Tensor& bias) {
  if (weight.numel() > 0) init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (!bias.defined()) return;
  const int64_t fan_in = weight.size(1) * weight.size(2) * weight.size(3);
  const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
  init::uniform_(bias, -bound, bound);
}

// Checked before the weight is made (an integer weight cannot require grad).
DType float_dtype(DType dtype, const char* layer) {
  MOELAB_CHECK(dtype == kF32 || dtype == kF64, layer, ": dtype must be f32 or f64, got ", dtype);
  return dtype;
}

void check_input(const Tensor& x, const Tensor& weight, int64_t in, const char* layer) {
  MOELAB_CHECK(x.defined(), layer, ": input is an undefined tensor");
  MOELAB_CHECK((x.dim() == 3 || x.dim() == 4) && x.size(x.dim() - 3) == in, layer,
               ": expected input [N, C, H, W] or [C, H, W] with C = in_channels = ", in, ", got shape ", x.shape());
  MOELAB_CHECK(x.dtype() == weight.dtype(), layer, ": input dtype ", x.dtype(), " differs from the weight's ",
               weight.dtype(), " (make the layer with that dtype)");
}

}  // namespace

// ---- Conv2d ----

void check_padding_mode(const std::string& mode, const char* layer) {
  MOELAB_CHECK(mode == "zeros" || mode == "reflect" || mode == "replicate" || mode == "circular", layer,
               ": padding_mode must be \"zeros\", \"reflect\", \"replicate\" or \"circular\", got \"", mode, "\"");
}

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, Int2 kernel_size, Int2 stride, Conv2dPadding padding,
               Int2 dilation, int64_t groups, bool bias, std::string padding_mode, DType dtype)
    : UnaryModule("Conv2d"),
      in_(check_channels(in_channels, out_channels, groups, "Conv2d")),
      out_(out_channels),
      kernel_(kernel_size),
      stride_(stride),
      dilation_(dilation),
      groups_(groups),
      padding_mode_(std::move(padding_mode)),
      weight_(register_parameter("weight", empty({out_channels, in_channels / groups, kernel_size.h, kernel_size.w},
                                                 float_dtype(dtype, "Conv2d")))),
      bias_(bias ? register_parameter("bias", empty({out_channels}, dtype)) : register_buffer("bias", Tensor())) {
  check_positive(kernel_, "Conv2d", "kernel_size");
  check_positive(stride_, "Conv2d", "stride");
  check_positive(dilation_, "Conv2d", "dilation");
  check_padding_mode(padding_mode_, "Conv2d");
  if (padding.mode.empty()) {
    check_non_negative(padding.size, "Conv2d", "padding");
    pad_t_ = pad_b_ = padding.size.h;
    pad_l_ = pad_r_ = padding.size.w;
  } else if (padding.mode == "valid") {
    pad_t_ = pad_b_ = pad_l_ = pad_r_ = 0;
  } else {
    MOELAB_CHECK(padding.mode == "same", "Conv2d: padding must be a size, \"same\" or \"valid\", got \"", padding.mode,
                 "\"");
    MOELAB_CHECK(stride_.h == 1 && stride_.w == 1, "Conv2d: padding=\"same\" is not supported for strided convolutions",
                 " (stride (", stride_.h, ", ", stride_.w, "))");
    SidePads p = same_pads(kernel_, dilation_);
    pad_t_ = p.t, pad_b_ = p.b, pad_l_ = p.l, pad_r_ = p.r;
  }
  reset_parameters();
}

void Conv2d::reset_parameters() { reset_conv(weight_, bias_); }

Tensor Conv2d::forward(const Tensor& x) {
  check_input(x, weight_, in_, "Conv2d");
  if (padding_mode_ == "zeros")
    return conv_zero_padded(x, weight_, bias_, stride_, {pad_t_, pad_b_, pad_l_, pad_r_}, dilation_, groups_);
  Tensor padded = pad(x, {pad_l_, pad_r_, pad_t_, pad_b_}, padding_mode_);
  return conv2d(padded, weight_, bias_, stride_, Int2(0), dilation_, groups_);
}

// ---- ConvTranspose2d ----

ConvTranspose2d::ConvTranspose2d(int64_t in_channels, int64_t out_channels, Int2 kernel_size, Int2 stride,
                                 Int2 padding, Int2 output_padding, int64_t groups, bool bias, Int2 dilation,
                                 DType dtype)
    : UnaryModule("ConvTranspose2d"),
      in_(check_channels(in_channels, out_channels, groups, "ConvTranspose2d")),
      out_(out_channels),
      kernel_(kernel_size),
      stride_(stride),
      padding_(padding),
      output_padding_(output_padding),
      groups_(groups),
      dilation_(dilation),
      weight_(register_parameter("weight", empty({in_channels, out_channels / groups, kernel_size.h, kernel_size.w},
                                                 float_dtype(dtype, "ConvTranspose2d")))),
      bias_(bias ? register_parameter("bias", empty({out_channels}, dtype)) : register_buffer("bias", Tensor())) {
  check_positive(kernel_, "ConvTranspose2d", "kernel_size");
  check_positive(stride_, "ConvTranspose2d", "stride");
  check_positive(dilation_, "ConvTranspose2d", "dilation");
  check_non_negative(padding_, "ConvTranspose2d", "padding");
  check_non_negative(output_padding_, "ConvTranspose2d", "output_padding");
  MOELAB_CHECK((output_padding_.h < stride_.h || output_padding_.h < dilation_.h) &&
                   (output_padding_.w < stride_.w || output_padding_.w < dilation_.w),
               "ConvTranspose2d: output_padding (", output_padding_.h, ", ", output_padding_.w,
               ") must be smaller than either stride or dilation");
  reset_parameters();
}

void ConvTranspose2d::reset_parameters() { reset_conv(weight_, bias_); }

void ConvTranspose2d::check_input(const Tensor& x) const { moelab::nn::check_input(x, weight_, in_, "ConvTranspose2d"); }

Tensor ConvTranspose2d::forward(const Tensor& x) {
  check_input(x);
  return conv_transpose2d(x, weight_, bias_, stride_, padding_, output_padding_, groups_, dilation_);
}

Tensor ConvTranspose2d::forward(const Tensor& x, const Shape& output_size) {
  check_input(x);
  MOELAB_CHECK(output_size.size() == 2 || output_size.size() == x.dim(),
               "ConvTranspose2d: output_size must hold 2 sizes (or the input's rank, ", x.dim(), "), got ", output_size);
  const std::array<int64_t, 2> k = kernel_.arr(), s = stride_.arr(), p = padding_.arr(), d = dilation_.arr();
  std::array<int64_t, 2> extra{};
  for (int i = 0; i < 2; ++i) {
    const auto u = static_cast<size_t>(i);
    const int64_t in_size = x.size(x.dim() - 2 + i);
    const int64_t want = output_size[output_size.size() - 2 + i];
    const int64_t min_size = (in_size - 1) * s[u] - 2 * p[u] + d[u] * (k[u] - 1) + 1;
    const int64_t max_size = min_size + s[u] - 1;
    MOELAB_CHECK(want >= min_size && want <= max_size, "ConvTranspose2d: requested output size ", output_size,
                 " is not reachable from input ", x.shape(), ": dim ", x.dim() - 2 + i, " must be in [", min_size,
                 ", ", max_size, "], got ", want);
    extra[u] = want - min_size;
  }
  return conv_transpose2d(x, weight_, bias_, stride_, padding_, Int2(extra[0], extra[1]), groups_, dilation_);
}

}  // namespace moelab::nn
