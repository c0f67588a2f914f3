#include "moelab/nn/utils/clip_grad.h"

#include <cmath>

#include "moelab/autograd/grad_mode.h"
#include "moelab/core/error.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/reduce.h"
#include "moelab/ops/shape_ops.h"

namespace moelab::nn::utils {
namespace {
// The grads to clip: defined ones, floating-point, with their parameter's shape.
std::vector<Tensor> grads_of(const std::vector<Tensor>& parameters, const char* fn) {
  std::vector<Tensor> grads;
  grads.reserve(parameters.size());
  for (size_t i = 0; i < parameters.size(); ++i) {
    const Tensor& p = parameters[i];
    MOELAB_CHECK(p.defined(), fn, ": parameter ", i, " is undefined");
    const Tensor& g = p.grad();
    if (!g.defined()) continue;
    MOELAB_CHECK(is_floating(g.dtype()), fn, ": the grad of parameter ", i, " has dtype ", g.dtype(),
                 "; only floating-point grads can be clipped");
    grads.push_back(g);
  }
  return grads;
}
}  // namespace

Tensor clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  MOELAB_CHECK(norm_type > 0 && !std::isnan(norm_type), "clip_grad_norm_: norm_type must be positive (or infinity), got ",
               norm_type);
  autograd::NoGradGuard no_grad;
  std::vector<Tensor> grads = grads_of(parameters, "clip_grad_norm_");
  if (grads.empty()) return scalar(0.0f);
  // One reduction per grad, then the norm of the per-grad norms (as PyTorch stacks them).
  std::vector<Tensor> norms;
  norms.reserve(grads.size());
  DType dtype = grads[0].dtype();
  const bool inf_norm = std::isinf(norm_type);
  for (const Tensor& g : grads) {
    dtype = promote_types(dtype, g.dtype());
    // abs().max() as PyTorch for the inf-norm; an empty grad contributes 0 (PyTorch raises there).
    norms.push_back(norm(g.detach(), norm_type));
  }
  for (Tensor& n : norms) n = n.to(dtype);
  Tensor total;
  if (inf_norm)
    total = norms.size() == 1 ? norms[0] : max(stack(norms));
  else
    total = norm(stack(norms), norm_type);
  if (error_if_nonfinite) {
    const double t = total.to(kF64).item<double>();
    MOELAB_CHECK(std::isfinite(t), "clip_grad_norm_: the total norm of order ", norm_type, " for gradients from ",
                 "`parameters` is non-finite (", t, "), so it cannot be clipped. To disable this error and scale ",
                 "the gradients by the non-finite norm anyway, set error_if_nonfinite=false");
  }
  // Multiplying by a coefficient clamped to 1 rather than branching on it, as PyTorch does.
  Tensor coef = clamp(max_norm / (total + 1e-6), std::nullopt, 1.0);
  for (Tensor g : grads) {
    Tensor gd = g.detach();
    mul_(gd, coef.to(g.dtype()));
  }
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value) {
  autograd::NoGradGuard no_grad;
  for (Tensor g : grads_of(parameters, "clip_grad_value_")) {
    Tensor gd = g.detach();
    clamp_(gd, -clip_value, clip_value);
  }
}

}  // namespace moelab::nn::utils
