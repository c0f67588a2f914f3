// Flatten merges dims start_dim..end_dim into one (by default all but the batch dim); Unflatten
// splits dim into sizes (one of them may be -1). Both return views where the strides allow.
#pragma once
#include <cstdint>

#include "moelab/nn/module.h"

namespace moelab::nn {

class Flatten : public UnaryModule {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1)
      : UnaryModule("Flatten"), start_dim_(start_dim), end_dim_(end_dim) {}
  Tensor forward(const Tensor& x) override;

 private:
  int64_t start_dim_, end_dim_;
};

class Unflatten : public UnaryModule {
 public:
  Unflatten(int64_t dim, Shape sizes);
  Tensor forward(const Tensor& x) override;

 private:
  int64_t dim_;
  Shape sizes_;
};

}  // namespace moelab::nn
