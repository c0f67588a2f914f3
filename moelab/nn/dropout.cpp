#include "moelab/nn/dropout.h"

#include "moelab/ops/functional.h"

namespace moelab::nn {

Dropout::Dropout(double p, Generator* gen) : UnaryModule("Dropout"), p_(p), gen_(gen) {
  MOELAB_CHECK(p >= 0 && p <= 1, "Dropout: p must be in [0, 1], got ", p);
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p_, is_training(), gen_); }

}  // namespace moelab::nn
