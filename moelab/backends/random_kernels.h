// Random fills from the counter-based Philox generator.
#pragma once
#include "moelab/core/tensor.h"

namespace moelab {

class RandomKernels {
 public:
  virtual ~RandomKernels() = default;
};

}  // namespace moelab
