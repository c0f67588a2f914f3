#include "moelab/ops/functional.h"

#include "moelab/ops/elementwise.h"
#include "moelab/ops/indexing.h"
#include "moelab/ops/op_helpers.h"
#include "moelab/ops/random.h"
#include "moelab/ops/reduce.h"
#include "moelab/ops/softmax.h"

namespace moelab {
namespace {

Tensor reduce_loss(const Tensor& l, std::string_view reduction, const char* op) {
  if (reduction == "mean") return l.mean();
  if (reduction == "sum") return l.sum();
  MOELAB_CHECK(reduction == "none", op, ": reduction must be \"mean\", \"sum\" or \"none\", got \"", reduction, "\"");
  return l;
}

}  // namespace

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

Tensor mse_loss(const Tensor& input, const Tensor& target, std::string_view reduction) {
  detail::check_same_device({&input, &target}, "mse_loss");
  MOELAB_CHECK(input.shape() == target.shape(), "mse_loss: input ", input.shape(), " and target ", target.shape(),
               " differ in shape");
  return reduce_loss(square(input - target), reduction, "mse_loss");
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, std::string_view reduction) {
  detail::check_same_device({&logits, &target}, "cross_entropy");
  detail::check_floating(logits, "cross_entropy");
  MOELAB_CHECK(is_integral(target.dtype()), "cross_entropy: target must hold class indices (i64 or i32), got ",
               target.dtype());
  const bool batched = logits.dim() == 2;
  MOELAB_CHECK((batched && target.dim() == 1 && target.size(0) == logits.size(0)) ||
                   (logits.dim() == 1 && target.dim() == 0),
               "cross_entropy: expected logits [N, C] with target [N], or [C] with a 0-d target; got logits ",
               logits.shape(), " and target ", target.shape());
  Tensor lp = log_softmax(batched ? logits : logits.unsqueeze(0), 1);
  Tensor t = (batched ? target : target.unsqueeze(0)).to(kI64);
  // gather checks every class index against C and names the bad one.
  Tensor nll = -gather(lp, 1, t.unsqueeze(1)).squeeze(1);
  if (!batched) nll = nll.squeeze(0);
  return reduce_loss(nll, reduction, "cross_entropy");
}

}  // namespace moelab
