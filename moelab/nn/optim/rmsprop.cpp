#include "moelab/nn/optim/rmsprop.h"

#include "moelab/autograd/grad_mode.h"
#include "moelab/core/error.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"

namespace moelab::optim {
namespace {
ParamGroup rmsprop_defaults(const RMSpropOptions& o) {
  ParamGroup d;
  d.lr = o.lr;
  d.alpha = o.alpha;
  d.eps = o.eps;
  d.weight_decay = o.weight_decay;
  d.momentum = o.momentum;
  d.centered = o.centered;
  d.maximize = o.maximize;
  return d;
}
}  // namespace

RMSprop::RMSprop(std::vector<Tensor> params, RMSpropOptions options)
    : Optimizer("RMSprop", rmsprop_defaults(options)) {
  init({ParamGroup{.params = std::move(params)}});
}

RMSprop::RMSprop(std::vector<ParamGroup> groups, RMSpropOptions options)
    : Optimizer("RMSprop", rmsprop_defaults(options)) {
  init(std::move(groups));
}

void RMSprop::check_options(const ParamGroup& g, size_t index) const {
  MOELAB_CHECK(*g.lr >= 0, "RMSprop: invalid learning rate ", *g.lr, " in param group ", index);
  MOELAB_CHECK(*g.eps >= 0, "RMSprop: invalid epsilon ", *g.eps, " in param group ", index);
  MOELAB_CHECK(*g.momentum >= 0, "RMSprop: invalid momentum ", *g.momentum, " in param group ", index);
  MOELAB_CHECK(*g.weight_decay >= 0, "RMSprop: invalid weight_decay ", *g.weight_decay, " in param group ", index);
  MOELAB_CHECK(*g.alpha >= 0, "RMSprop: invalid alpha ", *g.alpha, " in param group ", index);
}

void RMSprop::step() {
  using detail::num;
  autograd::NoGradGuard no_grad;
  for (auto& g : param_groups()) {
    const double lr = *g.lr, alpha = *g.alpha, eps = *g.eps, wd = *g.weight_decay, momentum = *g.momentum;
    const bool centered = *g.centered;
    for (Tensor p : g.params) {
      if (!p.grad().defined()) continue;
      Tensor grad = detail::checked_grad("RMSprop", p, *g.maximize);
      ParamState& st = state(p);
      if (!st.has("square_avg")) {
        st.step = 0;
        st.buffers["square_avg"] = zeros_like(p);
      }
      // Buffers for options switched on after the first step start at zero, as in PyTorch.
      if (momentum > 0 && !st.has("momentum_buffer")) st.buffers["momentum_buffer"] = zeros_like(p);
      if (centered && !st.has("grad_avg")) st.buffers["grad_avg"] = zeros_like(p);
      st.step += 1;
      if (wd != 0) grad = add(grad, p, wd);
      Tensor& square_avg = st.at("square_avg");
      add_(mul_(square_avg, num(alpha, p)), grad * grad, 1 - alpha);
      Tensor avg;
      if (centered) {
        Tensor& grad_avg = st.at("grad_avg");
        add_(mul_(grad_avg, num(alpha, p)), grad, 1 - alpha);
        avg = sqrt(sub(square_avg, grad_avg * grad_avg));
      } else {
        avg = sqrt(square_avg);
      }
      add_(avg, num(eps, avg));
      if (momentum > 0) {
        Tensor& buf = st.at("momentum_buffer");
        add_(mul_(buf, num(momentum, buf)), grad / avg);
        add_(p, buf, -lr);
      } else {
        add_(p, grad / avg, -lr);
      }
    }
  }
}

}  // namespace moelab::optim
