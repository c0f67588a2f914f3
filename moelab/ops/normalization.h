// Functional normalisation, embedding and bilinear layers (torch.nn.functional's batch_norm,
// group_norm, rms_norm, embedding, bilinear). All are composed from differentiable ops, so
// autograd gives gradients of any order; embedding with a padding_idx records its own (linear)
// backward so that the padding row gets no gradient. Every optional tensor argument may be an
// undefined Tensor; defined ones must have the input's dtype and device.
#pragma once
#include <optional>

#include "moelab/core/tensor.h"

namespace moelab {

// x: [N, C, *] (rank >= 2). training: normalise each channel with the batch mean and biased
// variance, and when running_mean / running_var are given, update them in place (no gradient):
//   running = (1 - momentum) * running + momentum * batch_stat   (the variance stat is unbiased).
// Not training: normalise with running_mean / running_var (both required).
// weight and bias are [C]. A channel with one value while training is an Error, as in PyTorch;
// an empty batch returns an empty result and leaves the running stats as they were.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight = {},
                  const Tensor& bias = {}, bool training = false, double momentum = 0.1, double eps = 1e-5);

// x: [N, C, *]; channels split into num_groups groups (C % num_groups == 0), each normalised over
// its channels and all trailing dims (biased variance); weight and bias are [C].
Tensor group_norm(const Tensor& x, int64_t num_groups, const Tensor& weight = {}, const Tensor& bias = {},
                  double eps = 1e-5);

// torch 2.4's rms_norm: y = x * rsqrt(mean(x^2 over the trailing normalized_shape dims) + eps) * weight.
// eps defaults to the machine epsilon of x's dtype (torch.finfo(dtype).eps).
Tensor rms_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = {},
                std::optional<double> eps = std::nullopt);

// F.embedding(input, weight, padding_idx): rows of weight [num_embeddings, dim] picked by integer
// indices (i64 or i32, any shape) -> indices.shape + [dim]. padding_idx (may be negative, counting
// from the end) names a row whose gradient is always zero. Note the argument order: the
// two-argument embedding(weight, indices) in ops/indexing.h is torch.embedding's order; this form
// takes padding_idx explicitly (std::nullopt for none) so the two cannot be confused.
Tensor embedding(const Tensor& indices, const Tensor& weight, std::optional<int64_t> padding_idx);

// y[..., k] = x1[..., :] W[k] x2[..., :] + b[k] with x1 [*, in1], x2 [*, in2] (the same leading
// dims), weight [out, in1, in2], bias [out] or undefined -> [*, out].
Tensor bilinear(const Tensor& x1, const Tensor& x2, const Tensor& weight, const Tensor& bias = {});

}  // namespace moelab
