// Internal: the elementwise SwiGLU kernels shared by swiglu.cpp and grouped_ffn.cpp (not part of
// the public API). Plain loops over contiguous arrays, written so that GCC vectorises them.
#pragma once
#include <bit>
#include <cmath>
#include <cstdint>

namespace moelab::moe::detail {

// sigmoid(x) = 1 / (1 + exp(-x)). For f32, exp is a branch-free polynomial (Cephes expf: n =
// round(x log2 e), r = x - n ln 2 in two parts, degree-6 polynomial, times 2^n built in the exponent
// bits; relative error < 1e-7) so that the loops below vectorise, which libm's expf call prevents.
// |x| is clamped to 87.3 on the bit pattern (GCC does not vectorise float compares under its default
// -ftrapping-math; integer ones it does): sigmoid is then 1 or ~1e-38 out there, and a NaN input
// still gives NaN through the factor x the callers multiply by. f64 uses std::exp.
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
inline float sigmoid_of(float x) { return 1.0f / (1.0f + exp_f32(-x)); }
inline double sigmoid_of(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// out = silu(a) * b over n elements.
template <class T>
void swiglu_forward(const T* __restrict a, const T* __restrict b, T* __restrict out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] * sigmoid_of(a[i]) * b[i];
}

// d gate (and d up when gb is given) of n elements; __restrict so that the loops vectorise
// without overlap checks.
template <class T>
inline T d_gate(T g, T x, T b, T s) {
  return g * b * s * (T(1) + x * (T(1) - s));
}
template <class T>
void grads(const T* __restrict g, const T* __restrict a, const T* __restrict b, T* __restrict ga, T* __restrict gb,
           int64_t n) {
  if (gb)
    for (int64_t i = 0; i < n; ++i) {
      const T x = a[i], s = sigmoid_of(x);
      ga[i] = d_gate(g[i], x, b[i], s);
      gb[i] = g[i] * x * s;
    }
  else
    for (int64_t i = 0; i < n; ++i) ga[i] = d_gate(g[i], a[i], b[i], sigmoid_of(a[i]));
}
// The same with d gate written over g.
template <class T>
void grads_inplace(T* __restrict g, const T* __restrict a, const T* __restrict b, T* __restrict gb, int64_t n) {
  if (gb)
    for (int64_t i = 0; i < n; ++i) {
      const T x = a[i], s = sigmoid_of(x), gi = g[i];
      g[i] = d_gate(gi, x, b[i], s);
      gb[i] = gi * x * s;
    }
  else
    for (int64_t i = 0; i < n; ++i) g[i] = d_gate(g[i], a[i], b[i], sigmoid_of(a[i]));
}

}  // namespace moelab::moe::detail
