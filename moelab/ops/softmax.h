// softmax and log_softmax along a dim, numerically stable (shifted by the max).
#pragma once
#include <optional>

#include "moelab/core/tensor.h"

namespace moelab {

Tensor softmax(const Tensor& x, int64_t dim, std::optional<DType> dtype = std::nullopt);
Tensor log_softmax(const Tensor& x, int64_t dim, std::optional<DType> dtype = std::nullopt);

}  // namespace moelab
