#include "moelab/nn/optim/optimizer.h"

#include <unordered_set>

#include "moelab/autograd/grad_mode.h"
#include "moelab/core/error.h"
#include "moelab/ops/elementwise.h"

namespace moelab::optim {

Tensor& ParamState::at(const std::string& name) {
  auto it = buffers.find(name);
  MOELAB_CHECK(it != buffers.end(), "optimizer state: no buffer named '", name, "'");
  return it->second;
}

const Tensor& ParamState::at(const std::string& name) const {
  auto it = buffers.find(name);
  MOELAB_CHECK(it != buffers.end(), "optimizer state: no buffer named '", name, "'");
  return it->second;
}

Optimizer::Optimizer(std::string name, ParamGroup defaults) : name_(std::move(name)), defaults_(std::move(defaults)) {}

void Optimizer::init(std::vector<ParamGroup> groups) {
  MOELAB_CHECK(!groups.empty(), name_, ": got an empty list of parameter groups");
  for (auto& g : groups) add_param_group(std::move(g));
}

namespace {
// Fills an unset option from the default; an option the optimizer does not use must stay unset.
template <class T>
void fill(std::optional<T>& opt, const std::optional<T>& def, const char* field, const std::string& name,
          size_t index) {
  if (def) {
    if (!opt) opt = def;
  } else {
    MOELAB_CHECK(!opt, name, ": param group ", index, " sets option '", field, "', which ", name, " does not use");
  }
}
}  // namespace

void Optimizer::add_param_group(ParamGroup g) {
  const size_t index = groups_.size();
  MOELAB_CHECK(!g.params.empty(), name_, ": param group ", index, " has an empty parameter list");
  std::unordered_set<const TensorImpl*> seen;
  for (const auto& og : groups_)
    for (const auto& p : og.params) seen.insert(p.impl());
  for (size_t i = 0; i < g.params.size(); ++i) {
    const Tensor& p = g.params[i];
    MOELAB_CHECK(p.defined(), name_, ": parameter ", i, " of param group ", index, " is undefined");
    MOELAB_CHECK(is_floating(p.dtype()), name_, ": parameter ", i, " of param group ", index,
                 " has dtype ", p.dtype(), "; only floating-point tensors can be optimized");
    MOELAB_CHECK(p.requires_grad(), name_, ": parameter ", i, " of param group ", index, " (shape ", p.shape(),
                 ") does not require grad");
    MOELAB_CHECK(p.is_leaf(), name_, ": parameter ", i, " of param group ", index, " (shape ", p.shape(),
                 ") is not a leaf tensor; can't optimize a non-leaf tensor");
    MOELAB_CHECK(seen.insert(p.impl()).second, name_, ": parameter ", i, " of param group ", index, " (shape ",
                 p.shape(), ") appears more than once (in this group or in another one)");
  }
  fill(g.lr, defaults_.lr, "lr", name_, index);
  fill(g.weight_decay, defaults_.weight_decay, "weight_decay", name_, index);
  fill(g.momentum, defaults_.momentum, "momentum", name_, index);
  fill(g.dampening, defaults_.dampening, "dampening", name_, index);
  fill(g.nesterov, defaults_.nesterov, "nesterov", name_, index);
  fill(g.betas, defaults_.betas, "betas", name_, index);
  fill(g.eps, defaults_.eps, "eps", name_, index);
  fill(g.amsgrad, defaults_.amsgrad, "amsgrad", name_, index);
  fill(g.alpha, defaults_.alpha, "alpha", name_, index);
  fill(g.centered, defaults_.centered, "centered", name_, index);
  fill(g.lr_decay, defaults_.lr_decay, "lr_decay", name_, index);
  fill(g.initial_accumulator_value, defaults_.initial_accumulator_value, "initial_accumulator_value", name_, index);
  fill(g.maximize, defaults_.maximize, "maximize", name_, index);
  MOELAB_CHECK(g.lr.has_value(), name_, ": param group ", index, " has no lr and there is no default lr");
  check_options(g, index);
  groups_.push_back(std::move(g));
  init_state(groups_.back());
}

void Optimizer::zero_grad(bool set_to_none) {
  autograd::NoGradGuard no_grad;
  for (auto& g : groups_) {
    for (auto& p : g.params) {
      Tensor& grad = p.mutable_grad();
      if (!grad.defined()) continue;
      if (set_to_none) {
        grad = Tensor();
      } else {
        if (grad.requires_grad()) grad = grad.detach();  // a grad made under create_graph drops its history
        grad.zero_();
      }
    }
  }
}

ParamState& Optimizer::state(const Tensor& param) {
  MOELAB_CHECK(param.defined(), name_, ".state: the parameter is undefined");
  return state_[param.impl()];
}

bool Optimizer::has_state(const Tensor& param) const {
  return param.defined() && state_.count(param.impl()) > 0;
}

namespace detail {

Tensor checked_grad(const std::string& opt, const Tensor& param, bool maximize) {
  const Tensor& g = param.grad();
  MOELAB_CHECK(g.shape() == param.shape(), opt, ": the grad of a parameter has shape ", g.shape(),
               ", the parameter has shape ", param.shape());
  MOELAB_CHECK(g.dtype() == param.dtype(), opt, ": the grad of a parameter has dtype ", g.dtype(),
               ", the parameter has dtype ", param.dtype());
  MOELAB_CHECK(g.device() == param.device(), opt, ": the grad of a parameter is on ", g.device(),
               ", the parameter is on ", param.device());
  return maximize ? neg(g) : g;
}

Tensor num(double v, const Tensor& like) { return scalar_tensor(v, like.dtype()); }

}  // namespace detail
}  // namespace moelab::optim
