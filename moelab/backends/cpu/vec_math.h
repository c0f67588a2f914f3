// Internal to the CPU backend: what its vectorised f32 loops share.
//
// MOELAB_SIMD_CLONES marks a hot loop function to be compiled three times (GCC target_clones:
// x86-64-v4 = AVX-512, x86-64-v3 = AVX2 + FMA, and the baseline moelab is otherwise built for),
// the loader picking the widest the CPU has. A file that uses it is compiled with
// -ffp-contract=off (CMakeLists.txt), so no clone fuses a multiply-add that the others round
// twice: every clone gives the same bits, and results do not depend on the CPU; and with
// -fno-trapping-math, without which GCC 12 leaves some of these loops scalar.
//
// exp_f32 is a branch-free expf that such loops can vectorise (libm's expf is a call, which stops
// the vectoriser).
#pragma once
#include <bit>
#include <cstdint>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define MOELAB_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MOELAB_SIMD_CLONES
#endif

namespace moelab::cpu {

// Cephes expf: n = round(x log2 e), r = x - n ln 2 in two parts, a degree-6 polynomial, times 2^n
// built in the exponent bits; relative error < 1e-7 (measured against f64 over [-87, 87] in
// tests/moe/test_swiglu.cpp). |x| is clamped to 87.3 on the bit pattern (integer compares vectorise
// whatever the trapping-math setting), so exp(-inf) and exp of large negative x give ~1e-38 instead
// of 0, exp(+inf) ~1e38 instead of inf, and a NaN comes out as one of those two: callers that need
// the exact limits or NaN propagation add them (cpu_softmax_f32.cpp's exp_nonpositive does).
inline float exp_f32(float x) {
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  uint32_t mag = bits & 0x7fffffffu;
  mag = mag > 0x42ae999au ? 0x42ae999au : mag;  // 87.3f
  x = std::bit_cast<float>((bits & 0x80000000u) | mag);
  // Round x log2 e to the nearest integer by adding 1.5 * 2^23: the sum's low mantissa bits hold n.
  const float t = x * 1.44269504088896341f + 12582912.0f;
  const int32_t ni = std::bit_cast<int32_t>(t) - 0x4B400000;
  const float n = t - 12582912.0f;
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  return p * std::bit_cast<float>((ni + 127) << 23);
}

// exp of x <= 0 (or NaN) with the true limits: anything at or below -87.3 gives 0 (exactly 0 for
// -inf, as a softmax's masked entries need), and NaN stays NaN. Integer selects, so it vectorises.
inline float exp_nonpositive(float x) {
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  const uint32_t e = std::bit_cast<uint32_t>(exp_f32(x));
  const bool nan = (bits & 0x7fffffffu) > 0x7f800000u;
  const bool under = bits >= 0xc2ae999au && bits <= 0xff800000u;  // -87.3 down to -inf
  return std::bit_cast<float>(nan ? 0x7fc00000u : under ? 0u : e);
}

// sigmoid(x) from e = exp(-|x|) <= 1, so neither side overflows or cancels: 1 / (1 + e) for x >= 0,
// e / (1 + e) for x < 0 (the sign taken from the bits: an integer select). Exact 0 and 1 at -inf
// and +inf; NaN stays NaN.
inline float sigmoid_f32(float x) {
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  const float e = exp_nonpositive(std::bit_cast<float>(bits | 0x80000000u));
  const float r = 1.0f / (1.0f + e);
  return (bits >> 31) ? e * r : r;
}

}  // namespace moelab::cpu
