// Linear: y = x W^T + b, with W [out, in] and b [out], initialised as PyTorch does
// (kaiming_uniform with a = sqrt(5), i.e. U(-1/sqrt(in), 1/sqrt(in)), for both).
#pragma once
#include "moelab/nn/module.h"

namespace moelab::nn {

class Linear : public UnaryModule {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true, DType dtype = kF32);
  Tensor forward(const Tensor& x) override;
  void reset_parameters();

  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

 private:
  int64_t in_, out_;
  Tensor& weight_;
  Tensor& bias_;
};

}  // namespace moelab::nn
