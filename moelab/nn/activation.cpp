#include "moelab/nn/activation.h"

#include "moelab/nn/init.h"
#include "moelab/ops/activation.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/softmax.h"

namespace moelab::nn {

Tensor Identity::forward(const Tensor& x) { return x; }
Tensor ReLU::forward(const Tensor& x) { return relu(x); }
Tensor ReLU6::forward(const Tensor& x) { return relu6(x); }
Tensor SiLU::forward(const Tensor& x) { return silu(x); }
Tensor Tanh::forward(const Tensor& x) { return tanh(x); }
Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }
Tensor SELU::forward(const Tensor& x) { return selu(x); }
Tensor Mish::forward(const Tensor& x) { return mish(x); }
Tensor Hardsigmoid::forward(const Tensor& x) { return hardsigmoid(x); }
Tensor Hardswish::forward(const Tensor& x) { return hardswish(x); }
Tensor LogSigmoid::forward(const Tensor& x) { return logsigmoid(x); }
Tensor Softsign::forward(const Tensor& x) { return softsign(x); }
Tensor Tanhshrink::forward(const Tensor& x) { return tanhshrink(x); }

GELU::GELU(std::string approximate) : UnaryModule("GELU"), approximate_(std::move(approximate)) {
  MOELAB_CHECK(approximate_ == "none" || approximate_ == "tanh", "GELU: approximate must be \"none\" or \"tanh\", got \"",
               approximate_, "\"");
}
Tensor GELU::forward(const Tensor& x) { return gelu(x, approximate_); }

Tensor LeakyReLU::forward(const Tensor& x) { return leaky_relu(x, negative_slope_); }
Tensor ELU::forward(const Tensor& x) { return elu(x, alpha_); }

CELU::CELU(double alpha) : UnaryModule("CELU"), alpha_(alpha) {
  MOELAB_CHECK(alpha != 0, "CELU: alpha must be non-zero");
}
Tensor CELU::forward(const Tensor& x) { return celu(x, alpha_); }

Softplus::Softplus(double beta, double threshold) : UnaryModule("Softplus"), beta_(beta), threshold_(threshold) {
  MOELAB_CHECK(beta != 0, "Softplus: beta must be non-zero");
}
Tensor Softplus::forward(const Tensor& x) { return softplus(x, beta_, threshold_); }

Hardtanh::Hardtanh(double min_val, double max_val) : UnaryModule("Hardtanh"), min_val_(min_val), max_val_(max_val) {
  MOELAB_CHECK(max_val > min_val, "Hardtanh: max_val (", max_val, ") must be greater than min_val (", min_val, ")");
}
Tensor Hardtanh::forward(const Tensor& x) { return hardtanh(x, min_val_, max_val_); }

Softshrink::Softshrink(double lambd) : UnaryModule("Softshrink"), lambd_(lambd) {
  MOELAB_CHECK(lambd >= 0, "Softshrink: lambd must be >= 0, got ", lambd);
}
Tensor Softshrink::forward(const Tensor& x) { return softshrink(x, lambd_); }

Tensor Hardshrink::forward(const Tensor& x) { return hardshrink(x, lambd_); }
Tensor Threshold::forward(const Tensor& x) { return threshold(x, threshold_, value_); }
Tensor Softmax::forward(const Tensor& x) { return softmax(x, dim_); }
Tensor LogSoftmax::forward(const Tensor& x) { return log_softmax(x, dim_); }
Tensor Softmin::forward(const Tensor& x) { return softmin(x, dim_); }
Tensor GLU::forward(const Tensor& x) { return glu(x, dim_); }

namespace {
int64_t positive(int64_t n) {
  MOELAB_CHECK(n >= 1, "PReLU: num_parameters must be positive, got ", n);
  return n;
}
}  // namespace

PReLU::PReLU(int64_t num_parameters, double init, DType dtype)
    : UnaryModule("PReLU"), init_(init), weight_(register_parameter("weight", empty({positive(num_parameters)}, dtype))) {
  reset_parameters();
}
void PReLU::reset_parameters() { init::constant_(weight_, init_); }
Tensor PReLU::forward(const Tensor& x) { return prelu(x, weight_); }

}  // namespace moelab::nn
