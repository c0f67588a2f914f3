// Finite-difference checks of autograd's gradients (use f64 inputs). gradcheck compares, for
// every input that requires grad, the analytical vector-Jacobian product from the engine with
// central differences; gradgradcheck does the same for the gradient function itself (second order).
#pragma once
#include <functional>
#include <vector>

#include "moelab/core/tensor.h"

namespace moelab::autograd {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  bool raise = true;  // throw an Error describing the first mismatch (else return false)
};

using TensorFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

bool gradcheck(const TensorFn& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& opts = {});
bool gradgradcheck(const TensorFn& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& opts = {});

}  // namespace moelab::autograd
