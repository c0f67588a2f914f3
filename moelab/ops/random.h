// Random factories and in-place fills, as in PyTorch, from the counter-based Philox generator
// (core/generator.h). Each takes an optional Generator* last; nullptr means the default generator,
// seeded by moelab::manual_seed. Streams are reproducible after re-seeding and do not depend on the
// thread count (nor, for in-place fills, on the tensor's strides: values follow logical order).
#pragma once
#include "moelab/core/generator.h"
#include "moelab/core/tensor.h"
#include "moelab/ops/factory.h"

namespace moelab {

// Uniform on [0, 1).
Tensor rand(const Shape& shape, TensorOptions opts = {}, Generator* gen = nullptr);
// Standard normal (Box-Muller).
Tensor randn(const Shape& shape, TensorOptions opts = {}, Generator* gen = nullptr);
Tensor rand_like(const Tensor& t, Generator* gen = nullptr);
Tensor randn_like(const Tensor& t, Generator* gen = nullptr);
// Integers uniform on [low, high); i64 unless opts say otherwise.
Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions opts = kI64, Generator* gen = nullptr);
Tensor randint(int64_t high, const Shape& shape, TensorOptions opts = kI64, Generator* gen = nullptr);
// A random permutation of 0..n-1 (argsort of random 63-bit keys).
Tensor randperm(int64_t n, TensorOptions opts = kI64, Generator* gen = nullptr);
// 1 with probability p[i] (p in [0, 1]), else 0; p's shape and dtype.
Tensor bernoulli(const Tensor& p, Generator* gen = nullptr);
// 1 with probability p for each element; x's shape and dtype.
Tensor bernoulli(const Tensor& x, double p, Generator* gen = nullptr);
// num_samples category indices (i64) per row of probs ([n] or [b, n]; non-negative weights, not
// necessarily normalised). Without replacement the indices in a row are distinct, in draw order.
Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement = false, Generator* gen = nullptr);

// In-place fills of a floating tensor (any strides).
Tensor& uniform_(Tensor& t, double from = 0, double to = 1, Generator* gen = nullptr);
Tensor& normal_(Tensor& t, double mean = 0, double std = 1, Generator* gen = nullptr);

}  // namespace moelab
