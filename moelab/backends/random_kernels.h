// Random fills from the counter-based Philox generator (core/generator.h).
//
// The layout of a draw is part of the interface, so every backend produces the same stream: a draw
// over out's n elements reads counter blocks [s.offset, s.offset + draw_blocks(...)); element i
// (row-major over out's logical shape, whatever its strides) uses block i / per_block and, inside
// it, these 32-bit words:
//   Uniform f32: 4 per block, word i%4: u = (w >> 8) * 2^-24 in [0, 1)
//   Uniform f64, Int: 2 per block, words 2j, 2j+1 (j = i%2) as a 64-bit r = w1 << 32 | w0;
//     uniform u = (r >> 11) * 2^-53; integer low + r mod range
//   Normal f32: 4 per block; Box-Muller on words (0, 1) -> elements 0, 1 and (2, 3) -> 2, 3
//   Normal f64: 2 per block; Box-Muller on the two 53-bit uniforms of the block
// Box-Muller: u1 in (0, 1], u2 in [0, 1): z0 = sqrt(-2 ln u1) cos(2 pi u2), z1 = ... sin(2 pi u2).
#pragma once
#include <cstdint>

#include "moelab/core/generator.h"
#include "moelab/core/tensor.h"

namespace moelab {

enum class RandomDraw : uint8_t { Uniform, Normal, Int };

// Values per counter block for a draw into dtype (f32 uses 32 bits per value, the rest 64).
constexpr int64_t draw_per_block(RandomDraw d, DType t) {
  return (d != RandomDraw::Int && t == kF32) ? 4 : 2;
}
constexpr uint64_t draw_blocks(RandomDraw d, DType t, int64_t n) {
  const int64_t per = draw_per_block(d, t);
  return static_cast<uint64_t>((n + per - 1) / per);
}

class RandomKernels {
 public:
  virtual ~RandomKernels() = default;
  // out (f32/f64, any strides) = from + (to - from) * u.
  virtual void uniform(const Tensor& out, double from, double to, PhiloxState s) = 0;
  // out (f32/f64, any strides) = mean + std * z.
  virtual void normal(const Tensor& out, double mean, double std, PhiloxState s) = 0;
  // out (i32/i64/f32/f64, any strides) = low + r mod range; range >= 1.
  virtual void random_int(const Tensor& out, int64_t low, uint64_t range, PhiloxState s) = 0;
  // out: i64 [b, num_samples] contiguous; probs: [b, n] contiguous f32/f64, checked by ops/
  // (non-negative, finite, positive sum, enough non-zero entries without replacement).
  // With replacement: sample (r, j) inverts the row's CDF at 64-bit uniform number r * s + j.
  // Without: the num_samples largest keys p / E, E = -ln(u) ~ Exp(1) from uniform r * n + j
  // (the exponential-race form of sequential sampling), best first, ties to the lowest index.
  virtual void multinomial(const Tensor& out, const Tensor& probs, bool replacement, PhiloxState s) = 0;
};

// Blocks a multinomial draw reads (64-bit uniforms, 2 per block).
constexpr uint64_t multinomial_blocks(int64_t rows, int64_t n, int64_t num_samples, bool replacement) {
  return draw_blocks(RandomDraw::Int, kF64, rows * (replacement ? num_samples : n));
}

}  // namespace moelab
