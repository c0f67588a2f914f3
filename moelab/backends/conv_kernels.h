// Convolution and pooling (oneDNN on CPU), forward and backward.
#pragma once
#include "moelab/core/tensor.h"

namespace moelab {

class ConvKernels {
 public:
  virtual ~ConvKernels() = default;
};

}  // namespace moelab
