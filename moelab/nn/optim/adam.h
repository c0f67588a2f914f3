// Adam and AdamW: torch.optim.Adam / torch.optim.AdamW (PyTorch 1.13's update rules).
#pragma once
#include "moelab/nn/optim/optimizer.h"

namespace moelab::optim {

struct AdamOptions {
  double lr = 1e-3;
  std::pair<double, double> betas{0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0;
  bool amsgrad = false;
  bool maximize = false;
};

struct AdamWOptions {
  double lr = 1e-3;
  std::pair<double, double> betas{0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 1e-2;
  bool amsgrad = false;
  bool maximize = false;
};

// Per parameter with gradient g (negated when maximize), t = the step count after this step:
//   Adam:  g += weight_decay * p          AdamW: p *= 1 - lr * weight_decay
//   m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g^2
//   v_hat = amsgrad ? (v_max = max(v_max, v)) : v
//   p -= lr / (1 - beta1^t) * m / (sqrt(v_hat) / sqrt(1 - beta2^t) + eps)
// State: step, "exp_avg", "exp_avg_sq", "max_exp_avg_sq" (amsgrad).
class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, AdamOptions options = {});
  Adam(std::vector<ParamGroup> groups, AdamOptions options = {});
  void step() override;

 protected:
  Adam(std::string name, ParamGroup defaults, bool decoupled);
  void check_options(const ParamGroup& group, size_t index) const override;
  StateSpec state_spec() const override { return {{"exp_avg", "exp_avg_sq"}, {"max_exp_avg_sq"}, true}; }

 private:
  bool decoupled_;  // AdamW's decoupled weight decay
};

class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, AdamWOptions options = {});
  AdamW(std::vector<ParamGroup> groups, AdamWOptions options = {});
};

}  // namespace moelab::optim
