// The fp32 FMA peak of one core, measured: the ceiling on any f32 GEMM on one thread, and so on
// the expert FLOPs per second any MoE layer implementation can reach there. Twelve independent
// FMA chains (enough to cover FMA latency on current x86 cores), with AVX-512 where the CPU has
// it and AVX2 + FMA otherwise. Returns GFLOP/s, or 0 where neither is available (not x86-64).
#pragma once
#include <chrono>
#include <cstdint>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace moelab::bench {

#if defined(__x86_64__)
namespace fma_detail {

// The loop, written out in each target-specific function (a lambda or template would not inherit
// the function's target attribute). Each accumulator starts from its own value, so the compiler
// cannot merge the chains.
#define MOELAB_FMA_CHAINS(V, FMA, SET1, LANES)                                                          \
  V a0 = SET1(1.00f), a1 = SET1(1.01f), a2 = SET1(1.02f), a3 = SET1(1.03f), a4 = SET1(1.04f);           \
  V a5 = SET1(1.05f), a6 = SET1(1.06f), a7 = SET1(1.07f), a8 = SET1(1.08f), a9 = SET1(1.09f);           \
  V a10 = SET1(1.10f), a11 = SET1(1.11f);                                                               \
  const V b = SET1(0.999999f), c = SET1(1e-6f);                                                         \
  const auto t0 = std::chrono::steady_clock::now();                                                     \
  for (int64_t i = 0; i < n; ++i) {                                                                     \
    a0 = FMA(a0, b, c), a1 = FMA(a1, b, c), a2 = FMA(a2, b, c), a3 = FMA(a3, b, c);                     \
    a4 = FMA(a4, b, c), a5 = FMA(a5, b, c), a6 = FMA(a6, b, c), a7 = FMA(a7, b, c);                     \
    a8 = FMA(a8, b, c), a9 = FMA(a9, b, c), a10 = FMA(a10, b, c), a11 = FMA(a11, b, c);                 \
  }                                                                                                     \
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();       \
  const V sum = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;                            \
  *sink = sum[0];                                                                                       \
  return static_cast<double>(n) * 12.0 * (LANES) * 2.0 / s / 1e9

__attribute__((target("avx512f"))) inline double peak_avx512(int64_t n, float* sink) {
  MOELAB_FMA_CHAINS(__m512, _mm512_fmadd_ps, _mm512_set1_ps, 16);
}

__attribute__((target("avx2,fma"))) inline double peak_avx2(int64_t n, float* sink) {
  MOELAB_FMA_CHAINS(__m256, _mm256_fmadd_ps, _mm256_set1_ps, 8);
}

#undef MOELAB_FMA_CHAINS

}  // namespace fma_detail
#endif

// Best of `reps` runs of n iterations (12 vector FMAs each).
inline double fp32_fma_peak_gflops(int64_t n = 50'000'000, int reps = 5) {
  double best = 0;
#if defined(__x86_64__)
  float sink = 0;
  for (int r = 0; r < reps; ++r) {
    double g = 0;
    if (__builtin_cpu_supports("avx512f"))
      g = fma_detail::peak_avx512(n, &sink);
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
      g = fma_detail::peak_avx2(n, &sink);
    best = g > best ? g : best;
  }
  volatile float keep = sink;
  (void)keep;
#endif
  return best;
}

}  // namespace moelab::bench
