#include "moelab/nn/normalization.h"

#include "moelab/nn/init.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/functional.h"

namespace moelab::nn {

LayerNorm::LayerNorm(Shape normalized_shape, double eps, bool elementwise_affine, DType dtype)
    : UnaryModule("LayerNorm"),
      shape_(normalized_shape),
      eps_(eps),
      weight_(elementwise_affine ? register_parameter("weight", empty(normalized_shape, dtype))
                                 : register_buffer("weight", Tensor())),
      bias_(elementwise_affine ? register_parameter("bias", empty(normalized_shape, dtype))
                               : register_buffer("bias", Tensor())) {
  MOELAB_CHECK(normalized_shape.size() >= 1, "LayerNorm: normalized_shape must have at least one dim");
  reset_parameters();
}

void LayerNorm::reset_parameters() {
  if (weight_.defined()) init::ones_(weight_);
  if (bias_.defined()) init::zeros_(bias_);
}

Tensor LayerNorm::forward(const Tensor& x) { return layer_norm(x, shape_, weight_, bias_, eps_); }

}  // namespace moelab::nn
