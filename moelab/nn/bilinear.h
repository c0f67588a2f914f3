// Bilinear: y = x1^T W_k x2 + b_k for each output k, as torch.nn.Bilinear. weight [out, in1, in2],
// bias [out]; both initialised U(-1/sqrt(in1), 1/sqrt(in1)).
#pragma once
#include "moelab/nn/module.h"

namespace moelab::nn {

class Bilinear : public Module {
 public:
  Bilinear(int64_t in1_features, int64_t in2_features, int64_t out_features, bool bias = true, DType dtype = kF32);
  // x1 [*, in1], x2 [*, in2] with the same leading dims -> [*, out].
  Tensor forward(const Tensor& x1, const Tensor& x2);
  Tensor operator()(const Tensor& x1, const Tensor& x2) { return forward(x1, x2); }
  void reset_parameters();

  int64_t in1_features() const { return in1_; }
  int64_t in2_features() const { return in2_; }
  int64_t out_features() const { return out_; }
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }

 private:
  int64_t in1_, in2_, out_;
  Tensor& weight_;
  Tensor& bias_;
};

}  // namespace moelab::nn
