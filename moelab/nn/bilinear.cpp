#include "moelab/nn/bilinear.h"

#include <cmath>

#include "moelab/nn/init.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/normalization.h"

namespace moelab::nn {

namespace {
int64_t non_negative(int64_t n, const char* what) {
  MOELAB_CHECK(n >= 0, "Bilinear: ", what, " must be non-negative, got ", n);
  return n;
}
}  // namespace

Bilinear::Bilinear(int64_t in1_features, int64_t in2_features, int64_t out_features, bool bias, DType dtype)
    : Module("Bilinear"),
      in1_(non_negative(in1_features, "in1_features")),
      in2_(non_negative(in2_features, "in2_features")),
      out_(non_negative(out_features, "out_features")),
      weight_(register_parameter("weight", empty({out_features, in1_features, in2_features}, dtype))),
      bias_(bias ? register_parameter("bias", empty({out_features}, dtype)) : register_buffer("bias", Tensor())) {
  reset_parameters();
}

void Bilinear::reset_parameters() {
  // PyTorch: bound = 1 / sqrt(weight.size(1)) for both weight and bias.
  const double bound = in1_ > 0 ? 1.0 / std::sqrt(static_cast<double>(in1_)) : 0.0;
  init::uniform_(weight_, -bound, bound);
  if (bias_.defined()) init::uniform_(bias_, -bound, bound);
}

Tensor Bilinear::forward(const Tensor& x1, const Tensor& x2) { return bilinear(x1, x2, weight_, bias_); }

}  // namespace moelab::nn
