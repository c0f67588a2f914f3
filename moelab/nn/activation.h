// Activation layers, as torch.nn: each forwards to the functional of the same name
// (moelab/ops/elementwise.h, softmax.h, activation.h). Only PReLU has a parameter.
//
//   auto act = std::make_shared<nn::LeakyReLU>(0.2);
//   Tensor y = (*act)(x);
#pragma once
#include <cstdint>
#include <string>

#include "moelab/nn/module.h"

namespace moelab::nn {

// A layer without options: forward is fn(x).
#define MOELAB_SIMPLE_ACTIVATION(Name)                      \
  class Name : public UnaryModule {                         \
   public:                                                   \
    Name() : UnaryModule(#Name) {}                           \
    Tensor forward(const Tensor& x) override;               \
  };
MOELAB_SIMPLE_ACTIVATION(Identity)
MOELAB_SIMPLE_ACTIVATION(ReLU)
MOELAB_SIMPLE_ACTIVATION(ReLU6)
MOELAB_SIMPLE_ACTIVATION(SiLU)
MOELAB_SIMPLE_ACTIVATION(Tanh)
MOELAB_SIMPLE_ACTIVATION(Sigmoid)
MOELAB_SIMPLE_ACTIVATION(SELU)
MOELAB_SIMPLE_ACTIVATION(Mish)
MOELAB_SIMPLE_ACTIVATION(Hardsigmoid)
MOELAB_SIMPLE_ACTIVATION(Hardswish)
MOELAB_SIMPLE_ACTIVATION(LogSigmoid)
MOELAB_SIMPLE_ACTIVATION(Softsign)
MOELAB_SIMPLE_ACTIVATION(Tanhshrink)
#undef MOELAB_SIMPLE_ACTIVATION

class GELU : public UnaryModule {
 public:
  // approximate: "none" or "tanh".
  explicit GELU(std::string approximate = "none");
  Tensor forward(const Tensor& x) override;
  const std::string& approximate() const { return approximate_; }

 private:
  std::string approximate_;
};

class LeakyReLU : public UnaryModule {
 public:
  explicit LeakyReLU(double negative_slope = 0.01) : UnaryModule("LeakyReLU"), negative_slope_(negative_slope) {}
  Tensor forward(const Tensor& x) override;
  double negative_slope() const { return negative_slope_; }

 private:
  double negative_slope_;
};

class ELU : public UnaryModule {
 public:
  explicit ELU(double alpha = 1.0) : UnaryModule("ELU"), alpha_(alpha) {}
  Tensor forward(const Tensor& x) override;

 private:
  double alpha_;
};

class CELU : public UnaryModule {
 public:
  explicit CELU(double alpha = 1.0);
  Tensor forward(const Tensor& x) override;

 private:
  double alpha_;
};

class Softplus : public UnaryModule {
 public:
  explicit Softplus(double beta = 1.0, double threshold = 20.0);
  Tensor forward(const Tensor& x) override;

 private:
  double beta_, threshold_;
};

class Hardtanh : public UnaryModule {
 public:
  Hardtanh(double min_val = -1.0, double max_val = 1.0);
  Tensor forward(const Tensor& x) override;

 private:
  double min_val_, max_val_;
};

class Softshrink : public UnaryModule {
 public:
  explicit Softshrink(double lambd = 0.5);
  Tensor forward(const Tensor& x) override;

 private:
  double lambd_;
};

class Hardshrink : public UnaryModule {
 public:
  explicit Hardshrink(double lambd = 0.5) : UnaryModule("Hardshrink"), lambd_(lambd) {}
  Tensor forward(const Tensor& x) override;

 private:
  double lambd_;
};

class Threshold : public UnaryModule {
 public:
  Threshold(double threshold, double value) : UnaryModule("Threshold"), threshold_(threshold), value_(value) {}
  Tensor forward(const Tensor& x) override;

 private:
  double threshold_, value_;
};

// Softmax, LogSoftmax, Softmin and GLU act along a dim. (PyTorch's implicit-dim default for
// Softmax is deprecated there; here the dim is required.)
class Softmax : public UnaryModule {
 public:
  explicit Softmax(int64_t dim) : UnaryModule("Softmax"), dim_(dim) {}
  Tensor forward(const Tensor& x) override;

 private:
  int64_t dim_;
};

class LogSoftmax : public UnaryModule {
 public:
  explicit LogSoftmax(int64_t dim) : UnaryModule("LogSoftmax"), dim_(dim) {}
  Tensor forward(const Tensor& x) override;

 private:
  int64_t dim_;
};

class Softmin : public UnaryModule {
 public:
  explicit Softmin(int64_t dim) : UnaryModule("Softmin"), dim_(dim) {}
  Tensor forward(const Tensor& x) override;

 private:
  int64_t dim_;
};

class GLU : public UnaryModule {
 public:
  explicit GLU(int64_t dim = -1) : UnaryModule("GLU"), dim_(dim) {}
  Tensor forward(const Tensor& x) override;

 private:
  int64_t dim_;
};

// x > 0 ? x : a * x with a learned a: one value shared by all channels (num_parameters = 1) or
// one per channel (dim 1 of the input); each starts at init.
class PReLU : public UnaryModule {
 public:
  explicit PReLU(int64_t num_parameters = 1, double init = 0.25, DType dtype = kF32);
  Tensor forward(const Tensor& x) override;
  void reset_parameters();
  const Tensor& weight() const { return weight_; }

 private:
  double init_;
  Tensor& weight_;
};

}  // namespace moelab::nn
