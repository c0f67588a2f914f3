// Adagrad: torch.optim.Adagrad (PyTorch 1.13's update rule, dense gradients).
#pragma once
#include "moelab/nn/optim/optimizer.h"

namespace moelab::optim {

struct AdagradOptions {
  double lr = 1e-2;
  double lr_decay = 0;
  double weight_decay = 0;
  double initial_accumulator_value = 0;
  double eps = 1e-10;
  bool maximize = false;
};

// Per parameter with gradient g (negated when maximize), t = the step count after this step:
//   g += weight_decay * p
//   sum += g^2        (sum starts at initial_accumulator_value)
//   p -= lr / (1 + (t - 1) * lr_decay) * g / (sqrt(sum) + eps)
// State: step, "sum" (created when the parameter's group is added, as in PyTorch).
class Adagrad : public Optimizer {
 public:
  Adagrad(std::vector<Tensor> params, AdagradOptions options = {});
  Adagrad(std::vector<ParamGroup> groups, AdagradOptions options = {});
  void step() override;

 protected:
  void check_options(const ParamGroup& group, size_t index) const override;
  StateSpec state_spec() const override { return {{"sum"}, {}, true}; }
  void init_state(const ParamGroup& group) override;
};

}  // namespace moelab::optim
