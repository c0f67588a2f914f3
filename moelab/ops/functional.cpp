#include "moelab/ops/functional.h"

#include "moelab/ops/elementwise.h"
#include "moelab/ops/indexing.h"
#include "moelab/ops/op_helpers.h"
#include "moelab/ops/random.h"
#include "moelab/ops/reduce.h"
#include "moelab/ops/softmax.h"

namespace moelab {
Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  detail::check_defined(x, "dropout");
  detail::check_floating(x, "dropout");
  MOELAB_CHECK(p >= 0 && p <= 1, "dropout: p must be in [0, 1], got ", p);
  if (!training || p == 0) return x;
  if (p == 1) return x * zeros_like(x);
  // The mask carries the 1 / (1 - p) scale, so the op is a single multiply (and so is its gradient).
  return x * (bernoulli(x.detach(), 1 - p, gen) * (1.0 / (1 - p)));
}

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  detail::check_defined(x, "layer_norm");
  detail::check_floating(x, "layer_norm");
  const int k = normalized_shape.size();
  bool matches = k >= 1 && k <= x.dim();
  for (int i = 0; matches && i < k; ++i) matches = x.size(x.dim() - k + i) == normalized_shape[i];
  MOELAB_CHECK(matches, "layer_norm: normalized_shape ", normalized_shape, " does not match the trailing dims of input ",
               x.shape());
  MOELAB_CHECK(!weight.defined() || weight.shape() == normalized_shape, "layer_norm: weight of shape ", weight.shape(),
               " does not match normalized_shape ", normalized_shape);
  MOELAB_CHECK(!bias.defined() || bias.shape() == normalized_shape, "layer_norm: bias of shape ", bias.shape(),
               " does not match normalized_shape ", normalized_shape);
  Dims dims;
  for (int i = x.dim() - k; i < x.dim(); ++i) dims.push_back(i);
  Tensor mu = x.mean(dims, true);
  Tensor centered = x - mu;
  Tensor y = centered * rsqrt(square(centered).mean(dims, true) + eps);
  if (weight.defined()) y = y * weight;
  if (bias.defined()) y = y + bias;
  return y;
}

}  // namespace moelab
