// Dropout: zeroes elements with probability p while training (scaling the rest by 1 / (1 - p));
// the identity in eval mode. Draws from the default generator unless one is given.
#pragma once
#include "moelab/core/generator.h"
#include "moelab/nn/module.h"

namespace moelab::nn {

class Dropout : public UnaryModule {
 public:
  explicit Dropout(double p = 0.5, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  double p() const { return p_; }

 private:
  double p_;
  Generator* gen_;
};

}  // namespace moelab::nn
