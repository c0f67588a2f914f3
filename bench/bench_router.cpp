// The MoE router hot path: softmax and topk along the last dim of [T, E] logits, one thread.
// References measured in the same run: topk vs a full sort + narrow, fused softmax vs the composite
// exp(x - max) / sum it replaced.
#include <moelab/moelab.h>

#include "bench_ratio.h"

namespace {
using namespace moelab;

Tensor logits(int64_t t, int64_t e) {
  Generator g(0);
  return randn({t, e}, kF32, &g);
}

void BM_topk_router(benchmark::State& st) {
  set_num_threads(1);
  Tensor x = logits(st.range(0), st.range(1));
  for (auto _ : st) benchmark::DoNotOptimize(topk(x, st.range(2)));
  st.SetItemsProcessed(st.iterations() * x.numel());
}
void BM_sort_router(benchmark::State& st) {
  set_num_threads(1);
  Tensor x = logits(st.range(0), st.range(1));
  for (auto _ : st) {
    auto [v, i] = sort(x, -1, true);
    benchmark::DoNotOptimize(v.narrow(1, 0, st.range(2)));
    benchmark::DoNotOptimize(i.narrow(1, 0, st.range(2)));
  }
  st.SetItemsProcessed(st.iterations() * x.numel());
}
void BM_softmax_fused(benchmark::State& st) {
  set_num_threads(1);
  Tensor x = logits(st.range(0), st.range(1));
  for (auto _ : st) benchmark::DoNotOptimize(softmax(x, -1));
  st.SetItemsProcessed(st.iterations() * x.numel());
}
void BM_softmax_composite(benchmark::State& st) {
  set_num_threads(1);
  Tensor x = logits(st.range(0), st.range(1));
  for (auto _ : st) {
    Tensor e = exp(x - amax(x, {-1}, true));
    benchmark::DoNotOptimize(e / sum(e, {-1}, true));
  }
  st.SetItemsProcessed(st.iterations() * x.numel());
}

BENCHMARK(BM_topk_router)->Args({4096, 8, 2})->Args({4096, 64, 2})->Args({4096, 64, 8});
BENCHMARK(BM_sort_router)->Args({4096, 8, 2})->Args({4096, 64, 2})->Args({4096, 64, 8});
BENCHMARK(BM_softmax_fused)->Args({4096, 8})->Args({4096, 64});
BENCHMARK(BM_softmax_composite)->Args({4096, 8})->Args({4096, 64});

MOELAB_BENCH_RATIO("topk [4096,8] k=2 vs sort", "BM_topk_router/4096/8/2", "BM_sort_router/4096/8/2", "< 1");
MOELAB_BENCH_RATIO("topk [4096,64] k=2 vs sort", "BM_topk_router/4096/64/2", "BM_sort_router/4096/64/2", "< 0.3");
MOELAB_BENCH_RATIO("topk [4096,64] k=8 vs sort", "BM_topk_router/4096/64/8", "BM_sort_router/4096/64/8", "< 0.5");
MOELAB_BENCH_RATIO("softmax [4096,8] fused vs composite", "BM_softmax_fused/4096/8", "BM_softmax_composite/4096/8", "< 1");
MOELAB_BENCH_RATIO("softmax [4096,64] fused vs composite", "BM_softmax_fused/4096/64", "BM_softmax_composite/4096/64", "< 1");

}  // namespace

MOELAB_BENCH_MAIN()
