// 2-D convolution layers, as torch.nn.Conv2d and ConvTranspose2d, over the ops in
// moelab/ops/conv.h. Input [N, C, H, W] or unbatched [C, H, W]. Weights start as PyTorch's
// reset_parameters: kaiming_uniform(a = sqrt(5)) on the weight, bias ~ U(-1/sqrt(fan_in), ..) with
// fan_in = weight.size(1) * kH * kW (for ConvTranspose2d, whose weight is [in, out/groups, kH, kW],
// that is out/groups * kH * kW, as PyTorch computes it).
//
//   nn::Conv2d conv(3, 16, 3, /*stride=*/1, /*padding=*/"same");
//   nn::ConvTranspose2d up(16, 8, 2, /*stride=*/2);
//   Tensor y = up(relu(conv(x)));
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "moelab/nn/module.h"
#include "moelab/ops/conv.h"

namespace moelab {

// Conv2d's padding: a size (an int or an (h, w) pair) or one of the strings "valid" (no padding)
// and "same" (output size = input size; stride 1 only).
struct Conv2dPadding {
  Int2 size = 0;
  std::string mode;  // "", "same" or "valid"
  Conv2dPadding(int v) : size(v) {}              // NOLINT: implicit on purpose, as PyTorch's padding=1
  Conv2dPadding(int64_t v) : size(v) {}          // NOLINT
  Conv2dPadding(Int2 v) : size(v) {}             // NOLINT
  Conv2dPadding(int64_t h, int64_t w) : size(h, w) {}
  Conv2dPadding(const char* m) : mode(m) {}     // NOLINT
  Conv2dPadding(std::string m) : mode(std::move(m)) {}  // NOLINT
};

// A string padding for the functional conv2d below. Only strings convert to it (a literal 0 does
// not), so conv2d(x, w, b, 1, 0) still picks the sized overload.
struct ConvPaddingString {
  std::string value;
  template <size_t N>
  ConvPaddingString(const char (&s)[N]) : value(s) {}  // NOLINT: implicit on purpose
  ConvPaddingString(std::string s) : value(std::move(s)) {}  // NOLINT
};

// F.conv2d with a string padding: "valid" is padding 0; "same" pads by dilation * (kernel - 1) in
// total per dim, the odd element on the bottom/right, as PyTorch (stride 1 only).
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, Int2 stride, const ConvPaddingString& padding,
              Int2 dilation = 1, int64_t groups = 1);

}  // namespace moelab

namespace moelab::nn {

// Throws an Error naming `layer` unless mode is one of Conv2d's padding modes: "zeros", "reflect",
// "replicate" or "circular".
void check_padding_mode(const std::string& mode, const char* layer);

class Conv2d : public UnaryModule {
 public:
  // padding_mode: "zeros", "reflect", "replicate" or "circular".
  Conv2d(int64_t in_channels, int64_t out_channels, Int2 kernel_size, Int2 stride = 1, Conv2dPadding padding = 0,
         Int2 dilation = 1, int64_t groups = 1, bool bias = true, std::string padding_mode = "zeros",
         DType dtype = kF32);
  Tensor forward(const Tensor& x) override;
  void reset_parameters();

  const Tensor& weight() const { return weight_; }  // [out, in/groups, kH, kW]
  const Tensor& bias() const { return bias_; }      // [out] or undefined
  int64_t in_channels() const { return in_; }
  int64_t out_channels() const { return out_; }

 private:
  int64_t in_, out_;
  Int2 kernel_, stride_, dilation_;
  int64_t groups_;
  std::string padding_mode_;
  // Padding per side (top, bottom, left, right): asymmetric only for "same" with an even extent.
  int64_t pad_t_, pad_b_, pad_l_, pad_r_;
  Tensor& weight_;
  Tensor& bias_;
};

class ConvTranspose2d : public UnaryModule {
 public:
  ConvTranspose2d(int64_t in_channels, int64_t out_channels, Int2 kernel_size, Int2 stride = 1, Int2 padding = 0,
                  Int2 output_padding = 0, int64_t groups = 1, bool bias = true, Int2 dilation = 1,
                  DType dtype = kF32);
  Tensor forward(const Tensor& x) override;
  // Picks the output_padding that gives this spatial output size ({H, W}, or a full shape whose
  // last two entries are H and W), as PyTorch's forward(input, output_size).
  Tensor forward(const Tensor& x, const Shape& output_size);
  void reset_parameters();

  const Tensor& weight() const { return weight_; }  // [in, out/groups, kH, kW]
  const Tensor& bias() const { return bias_; }
  int64_t in_channels() const { return in_; }
  int64_t out_channels() const { return out_; }

 private:
  void check_input(const Tensor& x) const;
  int64_t in_, out_;
  Int2 kernel_, stride_, padding_, output_padding_;
  int64_t groups_;
  Int2 dilation_;
  Tensor& weight_;
  Tensor& bias_;
};

}  // namespace moelab::nn
