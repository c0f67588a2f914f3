// CPU random fills. Each element's value depends only on (seed, offset, its logical index), so the
// split over threads (parallel_for chunks of any size) cannot change the stream.
#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

#include "moelab/backends/cpu/cpu_backend.h"
#include "moelab/backends/cpu/loops.h"
#include "moelab/backends/random_kernels.h"

namespace moelab {
namespace {

constexpr double kTwoPi = 2.0 * std::numbers::pi;

uint64_t word64(const PhiloxCounter& w, int j) {
  return static_cast<uint64_t>(w[2 * j + 1]) << 32 | w[2 * j];
}
double uniform53(uint64_t r) { return static_cast<double>(r >> 11) * 0x1.0p-53; }
float uniform24(uint32_t w) { return static_cast<float>(w >> 8) * 0x1.0p-24f; }

// The values of one counter block for a draw, computed once per block and reused by its elements.
template <class T, RandomDraw D>
struct BlockValues {
  static constexpr int kPer = static_cast<int>(draw_per_block(D, dtype_v<T>));
  PhiloxState s;
  uint64_t range = 1;  // Int draws
  uint64_t cur = ~uint64_t{0};
  T v[4] = {};
  uint64_t r[2] = {};

  void load(uint64_t block) {
    if (block == cur) return;
    cur = block;
    const PhiloxCounter w = philox_block(s.seed, s.offset + block);
    if constexpr (D == RandomDraw::Uniform) {
      if constexpr (kPer == 4) {
        for (int j = 0; j < 4; ++j) v[j] = uniform24(w[j]);
      } else {
        for (int j = 0; j < 2; ++j) v[j] = static_cast<T>(uniform53(word64(w, j)));
      }
    } else if constexpr (D == RandomDraw::Normal) {
      if constexpr (kPer == 4) {
        for (int p = 0; p < 2; ++p) {
          const float u1 = static_cast<float>((w[2 * p] >> 8) + 1) * 0x1.0p-24f;  // (0, 1]: log is finite
          const float u2 = uniform24(w[2 * p + 1]);
          const float rad = std::sqrt(-2.0f * std::log(u1));
          v[2 * p] = rad * std::cos(static_cast<float>(kTwoPi) * u2);
          v[2 * p + 1] = rad * std::sin(static_cast<float>(kTwoPi) * u2);
        }
      } else {
        const double u1 = static_cast<double>((word64(w, 0) >> 11) + 1) * 0x1.0p-53;
        const double u2 = uniform53(word64(w, 1));
        const double rad = std::sqrt(-2.0 * std::log(u1));
        v[0] = static_cast<T>(rad * std::cos(kTwoPi * u2));
        v[1] = static_cast<T>(rad * std::sin(kTwoPi * u2));
      }
    } else {
      for (int j = 0; j < 2; ++j) r[j] = word64(w, j) % range;
    }
  }
};

// Fills out in logical order; f(values, lane) -> element. Chunks start anywhere: an element only
// needs its own block.
template <class T, RandomDraw D, class F>
void fill_draw(const Tensor& out, PhiloxState s, uint64_t range, F f) {
  cpu::LoopPlan<1> plan({&out});
  if (plan.numel == 0) return;
  constexpr int64_t kPer = draw_per_block(D, dtype_v<T>);
  auto chunk = [&](int64_t b, int64_t e) {
    BlockValues<T, D> bv{s, range};
    int64_t pos = b;
    auto inner = [&](char** p, const int64_t* st, int64_t n) {
      for (int64_t i = 0; i < n; ++i, ++pos) {
        bv.load(static_cast<uint64_t>(pos / kPer));
        *reinterpret_cast<T*>(p[0] + i * st[0]) = f(bv, static_cast<int>(pos % kPer));
      }
    };
    plan.run_range(b, e, inner);
  };
  if (plan.numel <= kElementwiseGrain) chunk(0, plan.numel);
  else parallel_for(0, plan.numel, kElementwiseGrain, chunk);
}

class CpuRandomKernels final : public RandomKernels {
 public:
  void uniform(const Tensor& out, double from, double to, PhiloxState s) override {
    visit_dtype<DTypes::Float>(out.dtype(), "uniform_", [&]<class T>() {
      const T lo = static_cast<T>(from), width = static_cast<T>(to - from), hi = static_cast<T>(to);
      fill_draw<T, RandomDraw::Uniform>(out, s, 1, [&](const auto& bv, int lane) {
        T x = lo + width * bv.v[lane];
        return x < hi || lo == hi ? x : std::nextafter(hi, lo);  // rounding must not reach `to`
      });
    });
  }

  void normal(const Tensor& out, double mean, double std_dev, PhiloxState s) override {
    visit_dtype<DTypes::Float>(out.dtype(), "normal_", [&]<class T>() {
      const T m = static_cast<T>(mean), sd = static_cast<T>(std_dev);
      fill_draw<T, RandomDraw::Normal>(out, s, 1, [&](const auto& bv, int lane) { return m + sd * bv.v[lane]; });
    });
  }

  void random_int(const Tensor& out, int64_t low, uint64_t range, PhiloxState s) override {
    visit_dtype<DTypes::Numeric>(out.dtype(), "randint", [&]<class T>() {
      fill_draw<T, RandomDraw::Int>(out, s, range, [&](const auto& bv, int lane) {
        // Two's complement wrap-around: low + r never overflows for r < high - low.
        return static_cast<T>(static_cast<int64_t>(static_cast<uint64_t>(low) + bv.r[lane]));
      });
    });
  }

  void multinomial(const Tensor& out, const Tensor& probs, bool replacement, PhiloxState s) override {
    visit_dtype<DTypes::Float>(probs.dtype(), "multinomial", [&]<class T>() {
      const int64_t rows = probs.size(0), n = probs.size(1), ns = out.size(1);
      const T* p = probs.data_ptr<T>();
      int64_t* o = out.data_ptr<int64_t>();
      // The i-th 64-bit uniform of this draw.
      auto u64 = [&](int64_t i) {
        return word64(philox_block(s.seed, s.offset + static_cast<uint64_t>(i / 2)), static_cast<int>(i % 2));
      };
      int64_t grain = std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, n + ns));
      parallel_for(0, rows, grain, [&](int64_t rb, int64_t re) {
        std::vector<double> buf(static_cast<size_t>(n));
        std::vector<int64_t> order;
        for (int64_t r = rb; r < re; ++r) {
          const T* pr = p + r * n;
          int64_t* orow = o + r * ns;
          if (replacement) {
            double acc = 0;
            for (int64_t j = 0; j < n; ++j) buf[static_cast<size_t>(j)] = acc += static_cast<double>(pr[j]);
            for (int64_t j = 0; j < ns; ++j) {
              const double u = uniform53(u64(r * ns + j)) * acc;
              // First category whose cumulative mass exceeds u; zero-mass ones are never first.
              auto it = std::upper_bound(buf.begin(), buf.end(), u);
              orow[j] = std::min<int64_t>(it - buf.begin(), n - 1);
            }
          } else {
            for (int64_t j = 0; j < n; ++j) {
              const double u = static_cast<double>((u64(r * n + j) >> 11) + 1) * 0x1.0p-53;  // (0, 1]
              const double e = -std::log(u);  // Exp(1); e = 0 (u = 1) gives an infinite key
              const double pj = static_cast<double>(pr[j]);
              buf[static_cast<size_t>(j)] = pj > 0 ? pj / e : -1.0;  // zero mass: never picked
            }
            order.resize(static_cast<size_t>(n));
            for (int64_t j = 0; j < n; ++j) order[static_cast<size_t>(j)] = j;
            auto cmp = [&](int64_t a, int64_t b) {
              double ka = buf[static_cast<size_t>(a)], kb = buf[static_cast<size_t>(b)];
              return ka > kb || (ka == kb && a < b);
            };
            std::partial_sort(order.begin(), order.begin() + ns, order.end(), cmp);
            for (int64_t j = 0; j < ns; ++j) orow[j] = order[static_cast<size_t>(j)];
          }
        }
      });
    });
  }
};

}  // namespace

RandomKernels& cpu_random_kernels() {
  static CpuRandomKernels k;
  return k;
}

}  // namespace moelab
