#include "moelab/nn/linear.h"

#include <cmath>

#include "moelab/nn/init.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/linalg.h"

namespace moelab::nn {

namespace {
int64_t checked(int64_t n, const char* what) {
  MOELAB_CHECK(n >= 0, "Linear: ", what, " must be non-negative, got ", n);
  return n;
}
}  // namespace

Linear::Linear(int64_t in_features, int64_t out_features, bool bias, DType dtype)
    : UnaryModule("Linear"),
      in_(checked(in_features, "in_features")),
      out_(checked(out_features, "out_features")),
      weight_(register_parameter("weight", empty({out_features, in_features}, dtype))),
      bias_(bias ? register_parameter("bias", empty({out_features}, dtype)) : register_buffer("bias", Tensor())) {
  reset_parameters();
}

void Linear::reset_parameters() {
  if (in_ > 0) init::kaiming_uniform_(weight_, std::sqrt(5.0));
  if (bias_.defined()) {
    double bound = in_ > 0 ? 1.0 / std::sqrt(static_cast<double>(in_)) : 0.0;
    init::uniform_(bias_, -bound, bound);
  }
}

Tensor Linear::forward(const Tensor& x) {
  MOELAB_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) == in_, "Linear: input of shape ",
               x.defined() ? x.shape() : Shape{}, " does not end in in_features = ", in_);
  return linear(x, weight_, bias_);
}

}  // namespace moelab::nn
