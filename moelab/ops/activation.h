// Activation functions of torch.nn.functional beyond the ones in elementwise.h (relu, gelu, silu,
// tanh, sigmoid, softplus) and softmax.h (softmax, log_softmax). Each is written from
// differentiable ops, so gradients of any order come from autograd; at the kinks the gradient is
// the one PyTorch's backward gives (e.g. hardtanh passes nothing at its bounds, hardswish gives
// -0.5 at -3). Floating inputs only (f32, f64).
//
//   Tensor y = leaky_relu(x, 0.2);
//   Tensor z = glu(h, /*dim=*/1);        // h.size(1) halves: a * sigmoid(b)
#pragma once
#include <cstdint>

#include "moelab/core/tensor.h"

namespace moelab {

// x > 0 ? x : negative_slope * x.
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
// x > 0 ? x : alpha * (exp(x) - 1).
Tensor elu(const Tensor& x, double alpha = 1.0);
// scale * elu(x, alpha) with PyTorch's constants (alpha 1.6732632..., scale 1.0507009...).
Tensor selu(const Tensor& x);
// x > 0 ? x : alpha * (exp(x / alpha) - 1); alpha must be non-zero.
Tensor celu(const Tensor& x, double alpha = 1.0);
// clamp(x, min_val, max_val); the gradient passes strictly inside (min_val, max_val).
Tensor hardtanh(const Tensor& x, double min_val = -1.0, double max_val = 1.0);
// hardtanh(x, 0, 6).
Tensor relu6(const Tensor& x);
// relu6(x + 3) / 6.
Tensor hardsigmoid(const Tensor& x);
// x * relu6(x + 3) / 6.
Tensor hardswish(const Tensor& x);
// x * tanh(softplus(x)).
Tensor mish(const Tensor& x);
// log(sigmoid(x)), computed stably as min(x, 0) - log1p(exp(-|x|)).
Tensor logsigmoid(const Tensor& x);
// x / (1 + |x|).
Tensor softsign(const Tensor& x);
// x - tanh(x).
Tensor tanhshrink(const Tensor& x);
// x - lambd above lambd, x + lambd below -lambd, 0 between; lambd >= 0.
Tensor softshrink(const Tensor& x, double lambd = 0.5);
// x where |x| > lambd, else 0.
Tensor hardshrink(const Tensor& x, double lambd = 0.5);
// x > threshold ? x : value.
Tensor threshold(const Tensor& x, double threshold, double value);
// Splits x in halves a, b along dim (its size must be even) and returns a * sigmoid(b).
Tensor glu(const Tensor& x, int64_t dim = -1);
// softmax(-x, dim).
Tensor softmin(const Tensor& x, int64_t dim);
// x > 0 ? x : weight * x, where weight holds 1 value or one per channel (dim 1 of x; x of 0 or 1
// dims has one channel).
Tensor prelu(const Tensor& x, const Tensor& weight);

}  // namespace moelab
