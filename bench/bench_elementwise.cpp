// Elementwise add: per-op overhead on tiny tensors and bandwidth on large ones, each against a
// reference measured in the same run (a raw C loop for overhead, memcpy for bandwidth).
#include <moelab/moelab.h>

#include <cstring>
#include <vector>

#include "bench_ratio.h"

namespace {

// add of two 16-float tensors through the full op path: checks, allocation, dispatch, kernel.
void BM_add_16_moelab(benchmark::State& state) {
  moelab::set_num_threads(1);
  moelab::Tensor a = moelab::ones({16}), b = moelab::ones({16});
  for (auto _ : state) {
    moelab::Tensor c = a + b;
    benchmark::DoNotOptimize(c.raw_data());
  }
}
BENCHMARK(BM_add_16_moelab);

// The floor: a heap-allocated 16-float result computed by a plain loop (what any tensor library
// must at least do).
void BM_add_16_raw_loop(benchmark::State& state) {
  std::vector<float> a(16, 1.0f), b(16, 1.0f);
  for (auto _ : state) {
    auto* c = new float[16];
    for (int i = 0; i < 16; ++i) c[i] = a[static_cast<size_t>(i)] + b[static_cast<size_t>(i)];
    benchmark::DoNotOptimize(c);
    delete[] c;
  }
}
BENCHMARK(BM_add_16_raw_loop);

constexpr int64_t kBig = 4 << 20;  // 4M floats = 16 MiB per tensor

void BM_add_4M_moelab(benchmark::State& state) {
  moelab::set_num_threads(static_cast<int>(state.range(0)));
  moelab::Tensor a = moelab::ones({kBig}), b = moelab::ones({kBig});
  for (auto _ : state) {
    moelab::Tensor c = a + b;
    benchmark::DoNotOptimize(c.raw_data());
  }
  // add reads two arrays and writes one: 3 x 16 MiB of traffic.
  state.SetBytesProcessed(state.iterations() * kBig * 4 * 3);
}
BENCHMARK(BM_add_4M_moelab)->Arg(1)->UseRealTime();

// memcpy moving the same 3 x 16 MiB (read 2 x 16, write 16 would be 48 MiB; memcpy of 24 MiB reads
// 24 and writes 24), so bytes per second compare like for like.
void BM_memcpy_48MiB_traffic(benchmark::State& state) {
  std::vector<float> src(static_cast<size_t>(kBig) * 3 / 2, 1.0f), dst(src.size());
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), src.size() * sizeof(float));
    benchmark::DoNotOptimize(dst.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(src.size()) * 4 * 2);
}
BENCHMARK(BM_memcpy_48MiB_traffic)->UseRealTime();

}  // namespace

MOELAB_BENCH_RATIO("add 16 floats vs raw loop+new", "BM_add_16_moelab", "BM_add_16_raw_loop",
                   "moelab <= 0.3 us absolute (libtorch ~1.4-1.8 us)");
MOELAB_BENCH_RATIO("add 4M floats vs memcpy of equal traffic", "BM_add_4M_moelab/1/real_time",
                   "BM_memcpy_48MiB_traffic/real_time", "ratio <= 1/0.7 = 1.43 (>= 70% of memcpy bandwidth)");

MOELAB_BENCH_MAIN()
