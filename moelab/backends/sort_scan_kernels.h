// Softmax, scans (cumsum/cumprod), topk, sort, and counting (bincount, histc, unique).
#pragma once
#include "moelab/core/tensor.h"

namespace moelab {

class SortScanKernels {
 public:
  virtual ~SortScanKernels() = default;
};

}  // namespace moelab
