// Matrix products (OpenBLAS GEMM, batched) and LAPACK decompositions.
#pragma once
#include "moelab/core/tensor.h"

namespace moelab {

class LinalgKernels {
 public:
  virtual ~LinalgKernels() = default;
};

}  // namespace moelab
