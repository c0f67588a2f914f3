#include "moelab/nn/optim/sgd.h"

#include "moelab/autograd/grad_mode.h"
#include "moelab/core/error.h"
#include "moelab/ops/elementwise.h"

namespace moelab::optim {
namespace {
ParamGroup sgd_defaults(const SGDOptions& o) {
  ParamGroup d;
  d.lr = o.lr;
  d.momentum = o.momentum;
  d.dampening = o.dampening;
  d.weight_decay = o.weight_decay;
  d.nesterov = o.nesterov;
  d.maximize = o.maximize;
  return d;
}
}  // namespace

SGD::SGD(std::vector<Tensor> params, SGDOptions options) : Optimizer("SGD", sgd_defaults(options)) {
  init({ParamGroup{.params = std::move(params)}});
}

SGD::SGD(std::vector<ParamGroup> groups, SGDOptions options) : Optimizer("SGD", sgd_defaults(options)) {
  init(std::move(groups));
}

void SGD::check_options(const ParamGroup& g, size_t index) const {
  MOELAB_CHECK(*g.lr >= 0, "SGD: invalid learning rate ", *g.lr, " in param group ", index);
  MOELAB_CHECK(*g.momentum >= 0, "SGD: invalid momentum ", *g.momentum, " in param group ", index);
  MOELAB_CHECK(*g.weight_decay >= 0, "SGD: invalid weight_decay ", *g.weight_decay, " in param group ", index);
  MOELAB_CHECK(!*g.nesterov || (*g.momentum > 0 && *g.dampening == 0), "SGD: Nesterov momentum requires a momentum",
               " and zero dampening (param group ", index, " has momentum ", *g.momentum, ", dampening ",
               *g.dampening, ")");
}

void SGD::step() {
  autograd::NoGradGuard no_grad;
  for (auto& g : param_groups()) {
    const double lr = *g.lr, momentum = *g.momentum, dampening = *g.dampening, wd = *g.weight_decay;
    for (Tensor p : g.params) {
      if (!p.grad().defined()) continue;
      Tensor d_p = detail::checked_grad("SGD", p, *g.maximize);
      if (wd != 0) d_p = add(d_p, p, wd);
      if (momentum != 0) {
        ParamState& st = state(p);
        if (!st.has("momentum_buffer")) {
          st.buffers["momentum_buffer"] = d_p.clone();
        } else {
          Tensor& buf = st.at("momentum_buffer");
          add_(mul_(buf, detail::num(momentum, buf)), d_p, 1 - dampening);
        }
        Tensor& buf = st.at("momentum_buffer");
        d_p = *g.nesterov ? add(d_p, buf, momentum) : buf;
      }
      add_(p, d_p, -lr);
    }
  }
}

}  // namespace moelab::optim
