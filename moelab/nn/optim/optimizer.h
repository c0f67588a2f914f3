// Optimizers (torch.optim): the Optimizer base, parameter groups and per-parameter state.
//
// Parameters are leaf tensors that require grad. An optimizer holds them in parameter groups, each
// with its own options (lr, weight_decay and the optimizer's own fields); an option a group leaves
// unset takes the optimizer's default. step() updates the parameters in place under NoGradGuard
// (bumping their versions), skipping those whose grad is undefined; zero_grad() resets the grads.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "moelab/core/tensor.h"

namespace moelab::optim {

// A group of parameters and its options. Unset options take the optimizer's defaults when the
// group is added; setting an option the optimizer does not use is an Error. After construction
// every option the optimizer uses is set, so a scheduler can change it: `*g.lr *= 0.1`.
struct ParamGroup {
  std::vector<Tensor> params{};
  std::optional<double> lr{};
  std::optional<double> weight_decay{};
  std::optional<double> momentum{};                  // SGD, RMSprop
  std::optional<double> dampening{};                 // SGD
  std::optional<bool> nesterov{};                    // SGD
  std::optional<std::pair<double, double>> betas{};  // Adam, AdamW
  std::optional<double> eps{};                       // Adam, AdamW, RMSprop, Adagrad
  std::optional<bool> amsgrad{};                     // Adam, AdamW
  std::optional<double> alpha{};                     // RMSprop
  std::optional<bool> centered{};                    // RMSprop
  std::optional<double> lr_decay{};                  // Adagrad
  std::optional<double> initial_accumulator_value{}; // Adagrad
  std::optional<bool> maximize{};                    // all
  // Set by a learning-rate scheduler (the lr it starts from), as PyTorch's group['initial_lr'].
  std::optional<double> initial_lr{};
};

// The state an optimizer keeps for one parameter: a step count and named buffers
// ("momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "square_avg", "grad_avg", "sum"),
// named as in PyTorch.
struct ParamState {
  int64_t step = 0;
  std::map<std::string, Tensor> buffers;

  bool has(const std::string& name) const { return buffers.count(name) > 0; }
  Tensor& at(const std::string& name);              // Error when missing
  const Tensor& at(const std::string& name) const;  // Error when missing
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a grad.
  virtual void step() = 0;
  // set_to_none: grads become undefined; else they are zeroed in place (under NoGradGuard).
  void zero_grad(bool set_to_none = true);

  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  // Adds a group: fills its unset options from the defaults, checks options and parameters.
  void add_param_group(ParamGroup group);

  // The state of a parameter of this optimizer (created empty on first use).
  ParamState& state(const Tensor& param);
  bool has_state(const Tensor& param) const;
  // All states, by parameter, for copying or inspection.
  const std::unordered_map<const TensorImpl*, ParamState>& state() const { return state_; }

  const std::string& name() const { return name_; }

  // The options of every group and the state of every parameter as named tensors, in PyTorch's
  // layout: parameters are numbered 0, 1, ... across the groups in order;
  //   "param_groups.<g>.params"        1-d i64, the numbers of the group's parameters
  //   "param_groups.<g>.<option>"      0-d f64 (bools as 0/1; "betas" 1-d f64 of 2), for every option
  //                                    the optimizer uses, and "initial_lr" when a scheduler set it
  //   "state.<i>.<buffer>"             the parameter's state buffers (e.g. "exp_avg"), which alias
  //                                    the optimizer's (as in PyTorch: copy them to keep a snapshot)
  //   "state.<i>.step"                 0-d f64 (not for SGD, which keeps no step count)
  // Only parameters that have state appear under "state.".
  std::map<std::string, Tensor> state_dict() const;
  // Replaces the group options and the whole state by copies of `state` (floating-point buffers are
  // cast to their parameter's dtype, as PyTorch does), mapping the saved parameter numbers to this
  // optimizer's parameters by position. Everything is checked first: the group count, the number
  // of parameters per group, option and state dtypes and shapes, option values, missing and
  // unexpected keys; on any problem it throws an Error listing all of them and changes nothing.
  void load_state_dict(const std::map<std::string, Tensor>& state);

 protected:
  // Which state buffers this optimizer keeps: those every parameter state has, those it may have,
  // and whether it keeps a step count.
  struct StateSpec {
    std::vector<std::string> required;
    std::vector<std::string> optional;
    bool step = true;
  };
  virtual StateSpec state_spec() const = 0;

  // defaults: the options this optimizer uses, all set; the others unset.
  Optimizer(std::string name, ParamGroup defaults);
  // Adds the groups; call at the end of a derived constructor (it calls check_options).
  void init(std::vector<ParamGroup> groups);
  // Checks the values of a group's (filled) options; index names the group in messages.
  virtual void check_options(const ParamGroup& group, size_t index) const = 0;
  // Creates state a parameter needs before its first step (Adagrad's "sum"); runs for each added group.
  virtual void init_state(const ParamGroup& /*group*/) {}

 private:
  std::string name_;
  ParamGroup defaults_;  // also says which options this optimizer uses (the set ones)
  std::vector<ParamGroup> groups_;
  std::unordered_map<const TensorImpl*, ParamState> state_;
};

namespace detail {
// The parameter's gradient (negated when maximize), checked against the parameter's shape and dtype.
Tensor checked_grad(const std::string& opt, const Tensor& param, bool maximize);
// A 0-d number of the tensor's dtype for in-place scalar arithmetic.
Tensor num(double v, const Tensor& like);
}  // namespace detail

}  // namespace moelab::optim
