// Vectorised softmax and log_softmax of contiguous f32 rows (the common case: attention, routers,
// cross-entropy), cloned for AVX-512 / AVX2 / baseline (MOELAB_SIMD_CLONES, vec_math.h). The sum
// keeps 16 partial sums whatever the vector width, combined in one fixed order, and the max is an
// integer reduction (a float max does not vectorise without -ffinite-math-only), so the bits do not
// depend on the CPU. Compiled with -fno-trapping-math (CMakeLists.txt), without which GCC 12 leaves
// these loops scalar.
#include "moelab/backends/cpu/cpu_softmax_f32.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "moelab/backends/cpu/vec_math.h"

namespace moelab::cpu {
namespace {

constexpr int kLanes = 16;

// The row's max; NaN when the row holds one, so that it propagates to the whole row as in the
// scalar kernel. Both are integer reductions: a float's bits, with the magnitude bits flipped when
// negative, order as signed integers in the order of the floats (-0 just below +0); NaN is tested on
// the bits apart.
inline int32_t ordered(float x) {
  const int32_t b = std::bit_cast<int32_t>(x);
  return b ^ ((b >> 31) & 0x7fffffff);
}

MOELAB_SIMD_CLONES float row_max(const float* p, int64_t n) {
  int32_t m = std::numeric_limits<int32_t>::min();
  uint32_t nan = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int32_t o = ordered(p[i]);
    m = o > m ? o : m;
    nan |= (std::bit_cast<uint32_t>(p[i]) & 0x7fffffffu) > 0x7f800000u;
  }
  return nan ? std::numeric_limits<float>::quiet_NaN() : std::bit_cast<float>(m ^ ((m >> 31) & 0x7fffffff));
}

// q[i] = exp(p[i] - m) (when q is given) and the sum of those, in double.
MOELAB_SIMD_CLONES double exp_sum(const float* p, float m, float* q, int64_t n) {
  double acc[kLanes] = {};
  int64_t i = 0;
  if (q) {
    for (; i + kLanes <= n; i += kLanes)
      for (int j = 0; j < kLanes; ++j) {
        const float e = exp_nonpositive(p[i + j] - m);
        q[i + j] = e;
        acc[j] += static_cast<double>(e);
      }
    for (int j = 0; i < n; ++i, ++j) {
      q[i] = exp_nonpositive(p[i] - m);
      acc[j] += static_cast<double>(q[i]);
    }
  } else {
    for (; i + kLanes <= n; i += kLanes)
      for (int j = 0; j < kLanes; ++j) acc[j] += static_cast<double>(exp_nonpositive(p[i + j] - m));
    for (int j = 0; i < n; ++i, ++j) acc[j] += static_cast<double>(exp_nonpositive(p[i] - m));
  }
  for (int w = kLanes / 2; w > 0; w /= 2)
    for (int j = 0; j < w; ++j) acc[j] += acc[j + w];
  return acc[0];
}

MOELAB_SIMD_CLONES void scale(float* q, float a, int64_t n) {
  for (int64_t i = 0; i < n; ++i) q[i] *= a;
}

MOELAB_SIMD_CLONES void shift(const float* p, float s, float* q, int64_t n) {
  for (int64_t i = 0; i < n; ++i) q[i] = p[i] - s;
}

}  // namespace

void softmax_row_f32(const float* p, float* q, int64_t n, bool log) {
  if (n == 0) return;
  const float m = row_max(p, n);
  if (log) {
    const double sum = exp_sum(p, m, nullptr, n);
    shift(p, m + static_cast<float>(std::log(sum)), q, n);
  } else {
    const double sum = exp_sum(p, m, q, n);
    scale(q, static_cast<float>(1.0 / sum), n);
  }
}

}  // namespace moelab::cpu
