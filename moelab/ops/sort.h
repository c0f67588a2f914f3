// Sorting, selection and counting, with PyTorch's names and argument order.
//
// Order: NaN is greater than every number (last ascending, first descending), as in PyTorch.
// Determinism: sort is always stable (the `stable` flag is accepted for PyTorch compatibility),
// and topk breaks ties towards the LOWEST index, e.g. topk([1, 3, 3, 2], 2) gives indices [1, 2].
// PyTorch leaves topk's tie order unspecified; MoE routing relies on this rule.
#pragma once
#include <tuple>

#include "moelab/core/tensor.h"

namespace moelab {

// The k largest (smallest when !largest) entries along dim, best first: (values, indices i64).
// sorted=false is accepted and also returns them best first.
std::tuple<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim = -1, bool largest = true,
                                bool sorted = true);
// (values, indices) sorted along dim; stable.
std::tuple<Tensor, Tensor> sort(const Tensor& x, int64_t dim = -1, bool descending = false, bool stable = true);
Tensor argsort(const Tensor& x, int64_t dim = -1, bool descending = false, bool stable = true);

// The distinct values of the flattened x, ascending (sorted=false gives them ascending too), and
// optionally the inverse (for each x element, the index of its value; x's shape) and the counts.
// Tensors not asked for are undefined.
std::tuple<Tensor, Tensor, Tensor> unique(const Tensor& x, bool sorted = true, bool return_inverse = false,
                                          bool return_counts = false);

// Counts of each value of a 1-d non-negative integer tensor; length max(x) + 1, at least minlength.
// With weights (1-d, x's length) sums the weights instead: f32 weights give f32, others f64.
Tensor bincount(const Tensor& x, const Tensor& weights = Tensor(), int64_t minlength = 0);

// Histogram of a floating tensor into `bins` equal bins over [min, max]; min == max means the data
// range (widened by 1 each side when that is a single value). Values outside are ignored.
Tensor histc(const Tensor& x, int64_t bins = 100, double min = 0, double max = 0);

}  // namespace moelab
