// Reductions over any set of dims (an empty list means all), with keepdim, as in PyTorch.
#pragma once
#include <optional>
#include <tuple>

#include "moelab/core/tensor.h"

namespace moelab {

// Integer and bool inputs sum to i64, as in PyTorch; an optional dtype overrides.
Tensor sum(const Tensor& x, const Dims& dims = {}, bool keepdim = false, std::optional<DType> dtype = std::nullopt);
Tensor mean(const Tensor& x, const Dims& dims = {}, bool keepdim = false);  // floating only
Tensor prod(const Tensor& x, const Dims& dims = {}, bool keepdim = false);
// Max/min over all elements (no indices).
Tensor max(const Tensor& x);
Tensor min(const Tensor& x);
// Max/min along one dim: (values, indices), the first index among ties.
std::tuple<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim = false);
std::tuple<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim = false);
// Max/min over several dims, values only (PyTorch's amax/amin).
Tensor amax(const Tensor& x, const Dims& dims = {}, bool keepdim = false);
Tensor amin(const Tensor& x, const Dims& dims = {}, bool keepdim = false);
// Without a dim: the index into the flattened tensor.
Tensor argmax(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
Tensor argmin(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
// Variance and standard deviation with Bessel's correction (1 = unbiased, 0 = population).
Tensor var(const Tensor& x, const Dims& dims = {}, double correction = 1, bool keepdim = false);
Tensor std(const Tensor& x, const Dims& dims = {}, double correction = 1, bool keepdim = false);
// Vector norm: p = 1, 2 or infinity (std::numeric_limits<double>::infinity()), or any p > 0.
Tensor norm(const Tensor& x, double p = 2, const Dims& dims = {}, bool keepdim = false);
Tensor logsumexp(const Tensor& x, const Dims& dims, bool keepdim = false);
// Sums g over the dims along which `shape` was broadcast to g's shape (the backward of broadcasting).
Tensor sum_to(const Tensor& g, const Shape& shape);
Tensor any(const Tensor& x, const Dims& dims = {}, bool keepdim = false);
Tensor all(const Tensor& x, const Dims& dims = {}, bool keepdim = false);

}  // namespace moelab
