#include "moelab/nn/pooling.h"

namespace moelab::nn {
namespace {

void check_positive(Int2 v, const char* layer, const char* what) {
  MOELAB_CHECK(v.h > 0 && v.w > 0, layer, ": ", what, " must be positive, got (", v.h, ", ", v.w, ")");
}

// PyTorch: padding at most half the kernel, so that every window sees at least one input element.
void check_padding(Int2 padding, Int2 kernel, const char* layer) {
  MOELAB_CHECK(padding.h >= 0 && padding.w >= 0 && 2 * padding.h <= kernel.h && 2 * padding.w <= kernel.w, layer,
               ": padding (", padding.h, ", ", padding.w, ") must be non-negative and at most half the kernel size (",
               kernel.h, ", ", kernel.w, ")");
}

void check_input(const Tensor& x, const char* layer) {
  MOELAB_CHECK(x.defined(), layer, ": input is an undefined tensor");
  MOELAB_CHECK(x.dim() == 3 || x.dim() == 4, layer, ": expected input [N, C, H, W] or [C, H, W], got shape ",
               x.shape());
}

}  // namespace

MaxPool2d::MaxPool2d(Int2 kernel_size, std::optional<Int2> stride, Int2 padding, Int2 dilation, bool ceil_mode)
    : UnaryModule("MaxPool2d"),
      kernel_(kernel_size),
      stride_(stride.value_or(kernel_size)),
      padding_(padding),
      dilation_(dilation),
      ceil_mode_(ceil_mode) {
  check_positive(kernel_, "MaxPool2d", "kernel_size");
  check_positive(stride_, "MaxPool2d", "stride");
  check_positive(dilation_, "MaxPool2d", "dilation");
  check_padding(padding_, kernel_, "MaxPool2d");
}

Tensor MaxPool2d::forward(const Tensor& x) {
  check_input(x, "MaxPool2d");
  return max_pool2d(x, kernel_, stride_, padding_, dilation_, ceil_mode_);
}

std::tuple<Tensor, Tensor> MaxPool2d::forward_with_indices(const Tensor& x) {
  check_input(x, "MaxPool2d");
  return max_pool2d_with_indices(x, kernel_, stride_, padding_, dilation_, ceil_mode_);
}

AvgPool2d::AvgPool2d(Int2 kernel_size, std::optional<Int2> stride, Int2 padding, bool ceil_mode, bool count_include_pad,
                     std::optional<int64_t> divisor_override)
    : UnaryModule("AvgPool2d"),
      kernel_(kernel_size),
      stride_(stride.value_or(kernel_size)),
      padding_(padding),
      ceil_mode_(ceil_mode),
      count_include_pad_(count_include_pad),
      divisor_override_(divisor_override) {
  check_positive(kernel_, "AvgPool2d", "kernel_size");
  check_positive(stride_, "AvgPool2d", "stride");
  check_padding(padding_, kernel_, "AvgPool2d");
  MOELAB_CHECK(!divisor_override_ || *divisor_override_ != 0, "AvgPool2d: divisor_override must be non-zero");
}

Tensor AvgPool2d::forward(const Tensor& x) {
  check_input(x, "AvgPool2d");
  return avg_pool2d(x, kernel_, stride_, padding_, ceil_mode_, count_include_pad_, divisor_override_);
}

AdaptiveAvgPool2d::AdaptiveAvgPool2d(Int2 output_size) : UnaryModule("AdaptiveAvgPool2d"), output_size_(output_size) {
  MOELAB_CHECK(output_size_.h >= 0 && output_size_.w >= 0, "AdaptiveAvgPool2d: output_size must be non-negative, got (",
               output_size_.h, ", ", output_size_.w, ")");
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) {
  check_input(x, "AdaptiveAvgPool2d");
  return adaptive_avg_pool2d(x, output_size_);
}

}  // namespace moelab::nn
