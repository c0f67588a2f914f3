// 2-D pooling layers, as torch.nn, over the ops in moelab/ops/conv.h. Input [N, C, H, W] or
// unbatched [C, H, W], f32 or f64. The stride defaults to the kernel size.
//
//   nn::MaxPool2d pool(3, 2, /*padding=*/1);
//   nn::AdaptiveAvgPool2d gap(1);               // global average pooling: [N, C, 1, 1]
#pragma once
#include <cstdint>
#include <optional>
#include <tuple>

#include "moelab/nn/module.h"
#include "moelab/ops/conv.h"

namespace moelab::nn {

class MaxPool2d : public UnaryModule {
 public:
  MaxPool2d(Int2 kernel_size, std::optional<Int2> stride = std::nullopt, Int2 padding = 0, Int2 dilation = 1,
            bool ceil_mode = false);
  Tensor forward(const Tensor& x) override;
  // PyTorch's return_indices=True: (values, i64 flat indices h * W + w within each input plane).
  std::tuple<Tensor, Tensor> forward_with_indices(const Tensor& x);

 private:
  Int2 kernel_, stride_, padding_, dilation_;
  bool ceil_mode_;
};

class AvgPool2d : public UnaryModule {
 public:
  AvgPool2d(Int2 kernel_size, std::optional<Int2> stride = std::nullopt, Int2 padding = 0, bool ceil_mode = false,
            bool count_include_pad = true, std::optional<int64_t> divisor_override = std::nullopt);
  Tensor forward(const Tensor& x) override;

 private:
  Int2 kernel_, stride_, padding_;
  bool ceil_mode_, count_include_pad_;
  std::optional<int64_t> divisor_override_;
};

// Averages over windows chosen so the output is output_size (windows may overlap or differ in
// size by one, as in PyTorch). PyTorch's None ("keep that input size") is not supported.
class AdaptiveAvgPool2d : public UnaryModule {
 public:
  explicit AdaptiveAvgPool2d(Int2 output_size);
  Tensor forward(const Tensor& x) override;

 private:
  Int2 output_size_;
};

}  // namespace moelab::nn
