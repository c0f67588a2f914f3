// Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay:
// torch.optim.SGD (PyTorch 1.13's update rule).
#pragma once
#include "moelab/nn/optim/optimizer.h"

namespace moelab::optim {

struct SGDOptions {
  std::optional<double> lr{};  // required, as in PyTorch
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
  bool maximize = false;
};

// Per parameter with gradient g (negated when maximize):
//   g += weight_decay * p
//   if momentum != 0: buf = g on the first step, else buf = momentum * buf + (1 - dampening) * g;
//                     g = nesterov ? g + momentum * buf : buf
//   p -= lr * g
// State: "momentum_buffer" (when momentum != 0).
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, SGDOptions options);
  SGD(std::vector<ParamGroup> groups, SGDOptions options);
  void step() override;

 protected:
  void check_options(const ParamGroup& group, size_t index) const override;
  StateSpec state_spec() const override { return {{"momentum_buffer"}, {}, false}; }
};

}  // namespace moelab::optim
