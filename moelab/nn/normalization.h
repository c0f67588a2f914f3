// Normalisation layers. LayerNorm normalises over the trailing normalized_shape dims with a learned
// elementwise affine (weight 1, bias 0 at start), as torch.nn.LayerNorm.
#pragma once
#include "moelab/nn/module.h"

namespace moelab::nn {

class LayerNorm : public UnaryModule {
 public:
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true, DType dtype = kF32);
  Tensor forward(const Tensor& x) override;
  void reset_parameters();

  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }

 private:
  Shape shape_;
  double eps_;
  Tensor& weight_;
  Tensor& bias_;
};

}  // namespace moelab::nn
