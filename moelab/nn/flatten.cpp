#include "moelab/nn/flatten.h"

namespace moelab::nn {

Tensor Flatten::forward(const Tensor& x) {
  MOELAB_CHECK(x.defined(), "Flatten: input is an undefined tensor");
  return x.flatten(start_dim_, end_dim_);
}

Unflatten::Unflatten(int64_t dim, Shape sizes) : UnaryModule("Unflatten"), dim_(dim), sizes_(sizes) {
  MOELAB_CHECK(!sizes_.empty(), "Unflatten: sizes must not be empty");
}

Tensor Unflatten::forward(const Tensor& x) {
  MOELAB_CHECK(x.defined(), "Unflatten: input is an undefined tensor");
  return x.unflatten(dim_, sizes_);
}

}  // namespace moelab::nn
