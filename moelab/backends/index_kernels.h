// Gather/scatter/index_* primitives, masked ops and embedding lookup.
#pragma once
#include "moelab/core/tensor.h"

namespace moelab {

class IndexKernels {
 public:
  virtual ~IndexKernels() = default;
};

}  // namespace moelab
