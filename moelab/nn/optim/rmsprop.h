// RMSprop: torch.optim.RMSprop (PyTorch 1.13's update rule).
#pragma once
#include "moelab/nn/optim/optimizer.h"

namespace moelab::optim {

struct RMSpropOptions {
  double lr = 1e-2;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0;
  double momentum = 0;
  bool centered = false;
  bool maximize = false;
};

// Per parameter with gradient g (negated when maximize):
//   g += weight_decay * p
//   v = alpha * v + (1 - alpha) * g^2
//   centered: m = alpha * m + (1 - alpha) * g; avg = sqrt(v - m^2) + eps    else avg = sqrt(v) + eps
//   momentum > 0: buf = momentum * buf + g / avg; p -= lr * buf      else p -= lr * g / avg
// State: step, "square_avg", "momentum_buffer" (momentum > 0), "grad_avg" (centered).
class RMSprop : public Optimizer {
 public:
  RMSprop(std::vector<Tensor> params, RMSpropOptions options = {});
  RMSprop(std::vector<ParamGroup> groups, RMSpropOptions options = {});
  void step() override;

 protected:
  void check_options(const ParamGroup& group, size_t index) const override;
  StateSpec state_spec() const override { return {{"square_avg"}, {"momentum_buffer", "grad_avg"}, true}; }
};

}  // namespace moelab::optim
