// Functional forms of common layers (PyTorch's torch.nn.functional; the losses are in loss.h).
// Each is written from differentiable ops, so gradients of any order come from autograd. The nn
// library builds its modules on these.
#pragma once
#include <string_view>

#include "moelab/core/generator.h"
#include "moelab/core/tensor.h"
#include "moelab/ops/loss.h"  // the losses lived here first; existing includes keep working

namespace moelab {

// Normalises over the trailing dims given by normalized_shape, then scales and shifts (weight and
// bias optional, of that shape). Variance is the biased one, as in PyTorch.
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = {}, const Tensor& bias = {},
                  double eps = 1e-5);

// While training, zeroes each element with probability p (from gen, or the default generator) and
// scales the others by 1 / (1 - p); otherwise returns x. p must be in [0, 1].
Tensor dropout(const Tensor& x, double p = 0.5, bool training = true, Generator* gen = nullptr);

}  // namespace moelab
