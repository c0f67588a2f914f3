#include "moelab/nn/optim/adagrad.h"

#include "moelab/autograd/grad_mode.h"
#include "moelab/core/error.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"

namespace moelab::optim {
namespace {
ParamGroup adagrad_defaults(const AdagradOptions& o) {
  ParamGroup d;
  d.lr = o.lr;
  d.lr_decay = o.lr_decay;
  d.weight_decay = o.weight_decay;
  d.initial_accumulator_value = o.initial_accumulator_value;
  d.eps = o.eps;
  d.maximize = o.maximize;
  return d;
}
}  // namespace

Adagrad::Adagrad(std::vector<Tensor> params, AdagradOptions options)
    : Optimizer("Adagrad", adagrad_defaults(options)) {
  init({ParamGroup{.params = std::move(params)}});
}

Adagrad::Adagrad(std::vector<ParamGroup> groups, AdagradOptions options)
    : Optimizer("Adagrad", adagrad_defaults(options)) {
  init(std::move(groups));
}

void Adagrad::check_options(const ParamGroup& g, size_t index) const {
  MOELAB_CHECK(*g.lr >= 0, "Adagrad: invalid learning rate ", *g.lr, " in param group ", index);
  MOELAB_CHECK(*g.lr_decay >= 0, "Adagrad: invalid lr_decay ", *g.lr_decay, " in param group ", index);
  MOELAB_CHECK(*g.weight_decay >= 0, "Adagrad: invalid weight_decay ", *g.weight_decay, " in param group ", index);
  MOELAB_CHECK(*g.initial_accumulator_value >= 0, "Adagrad: invalid initial_accumulator_value ",
               *g.initial_accumulator_value, " in param group ", index);
  MOELAB_CHECK(*g.eps >= 0, "Adagrad: invalid epsilon ", *g.eps, " in param group ", index);
}

void Adagrad::init_state(const ParamGroup& g) {
  autograd::NoGradGuard no_grad;
  for (const Tensor& p : g.params) {
    ParamState& st = state(p);
    st.step = 0;
    st.buffers["sum"] = full_like(p, *g.initial_accumulator_value);
  }
}

void Adagrad::step() {
  using detail::num;
  autograd::NoGradGuard no_grad;
  for (auto& g : param_groups()) {
    const double lr = *g.lr, lr_decay = *g.lr_decay, eps = *g.eps, wd = *g.weight_decay;
    for (Tensor p : g.params) {
      if (!p.grad().defined()) continue;
      Tensor grad = detail::checked_grad("Adagrad", p, *g.maximize);
      ParamState& st = state(p);
      if (!st.has("sum")) {
        st.step = 0;
        st.buffers["sum"] = full_like(p, *g.initial_accumulator_value);
      }
      st.step += 1;
      if (wd != 0) grad = add(grad, p, wd);
      const double clr = lr / (1 + static_cast<double>(st.step - 1) * lr_decay);
      Tensor& sum = st.at("sum");
      add_(sum, grad * grad);
      Tensor std_ = sqrt(sum) + eps;
      add_(p, grad / std_, -clr);
    }
  }
}

}  // namespace moelab::optim
