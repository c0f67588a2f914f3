// Inclusive scans along a dim, as in PyTorch: integer and bool inputs give i64 unless dtype says
// otherwise. Floating scans accumulate in double on CPU.
#pragma once
#include <optional>

#include "moelab/core/tensor.h"

namespace moelab {

Tensor cumsum(const Tensor& x, int64_t dim, std::optional<DType> dtype = std::nullopt);
Tensor cumprod(const Tensor& x, int64_t dim, std::optional<DType> dtype = std::nullopt);

}  // namespace moelab
