#include "moelab/nn/optim/adam.h"

#include <cmath>

#include "moelab/autograd/grad_mode.h"
#include "moelab/core/error.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"

namespace moelab::optim {
namespace {
template <class O>
ParamGroup adam_defaults(const O& o) {
  ParamGroup d;
  d.lr = o.lr;
  d.betas = o.betas;
  d.eps = o.eps;
  d.weight_decay = o.weight_decay;
  d.amsgrad = o.amsgrad;
  d.maximize = o.maximize;
  return d;
}
}  // namespace

Adam::Adam(std::string name, ParamGroup defaults, bool decoupled)
    : Optimizer(std::move(name), std::move(defaults)), decoupled_(decoupled) {}

Adam::Adam(std::vector<Tensor> params, AdamOptions options) : Adam("Adam", adam_defaults(options), false) {
  init({ParamGroup{.params = std::move(params)}});
}

Adam::Adam(std::vector<ParamGroup> groups, AdamOptions options) : Adam("Adam", adam_defaults(options), false) {
  init(std::move(groups));
}

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions options) : Adam("AdamW", adam_defaults(options), true) {
  init({ParamGroup{.params = std::move(params)}});
}

AdamW::AdamW(std::vector<ParamGroup> groups, AdamWOptions options) : Adam("AdamW", adam_defaults(options), true) {
  init(std::move(groups));
}

void Adam::check_options(const ParamGroup& g, size_t index) const {
  const auto [b1, b2] = *g.betas;
  MOELAB_CHECK(*g.lr >= 0, name(), ": invalid learning rate ", *g.lr, " in param group ", index);
  MOELAB_CHECK(*g.eps >= 0, name(), ": invalid epsilon ", *g.eps, " in param group ", index);
  MOELAB_CHECK(b1 >= 0 && b1 < 1, name(), ": invalid beta parameter at index 0: ", b1, " (must be in [0, 1))",
               " in param group ", index);
  MOELAB_CHECK(b2 >= 0 && b2 < 1, name(), ": invalid beta parameter at index 1: ", b2, " (must be in [0, 1))",
               " in param group ", index);
  MOELAB_CHECK(*g.weight_decay >= 0, name(), ": invalid weight_decay ", *g.weight_decay, " in param group ", index);
}

void Adam::step() {
  using detail::num;
  autograd::NoGradGuard no_grad;
  for (auto& g : param_groups()) {
    const double lr = *g.lr, eps = *g.eps, wd = *g.weight_decay;
    const auto [beta1, beta2] = *g.betas;
    const bool amsgrad = *g.amsgrad;
    for (Tensor p : g.params) {
      if (!p.grad().defined()) continue;
      Tensor grad = detail::checked_grad(name(), p, *g.maximize);
      ParamState& st = state(p);
      if (!st.has("exp_avg")) {
        st.step = 0;
        st.buffers["exp_avg"] = zeros_like(p);
        st.buffers["exp_avg_sq"] = zeros_like(p);
        if (amsgrad) st.buffers["max_exp_avg_sq"] = zeros_like(p);
      }
      st.step += 1;
      if (decoupled_)
        mul_(p, num(1 - lr * wd, p));
      else if (wd != 0)
        grad = add(grad, p, wd);
      Tensor& exp_avg = st.at("exp_avg");
      Tensor& exp_avg_sq = st.at("exp_avg_sq");
      add_(mul_(exp_avg, num(beta1, p)), grad, 1 - beta1);
      add_(mul_(exp_avg_sq, num(beta2, p)), grad * grad, 1 - beta2);
      const double t = static_cast<double>(st.step);
      const double bias_correction1 = 1 - std::pow(beta1, t);
      const double bias_correction2 = 1 - std::pow(beta2, t);
      const double step_size = lr / bias_correction1;
      const double bias_correction2_sqrt = std::sqrt(bias_correction2);
      Tensor denom;
      if (amsgrad) {
        if (!st.has("max_exp_avg_sq")) st.buffers["max_exp_avg_sq"] = zeros_like(p);  // amsgrad turned on later
        Tensor& max_sq = st.at("max_exp_avg_sq");
        max_sq.copy_(maximum(max_sq, exp_avg_sq));
        denom = sqrt(max_sq) / bias_correction2_sqrt + eps;
      } else {
        denom = sqrt(exp_avg_sq) / bias_correction2_sqrt + eps;
      }
      add_(p, exp_avg / denom, -step_size);
    }
  }
}

}  // namespace moelab::optim
