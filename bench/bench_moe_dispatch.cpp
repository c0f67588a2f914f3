// The MoE expert path on one thread: T = 2048 tokens, d = 256, f = 1024, E = 8 experts, top-2
// random routing (4096 dispatched rows).
// - grouped_matmul forward [4096 x 256] @ w[e] [256 x 1024] per segment, against ONE dense
//   cblas_sgemm [4096 x 256] @ [256 x 1024] of the same FLOPs (target: ratio <= 1.25, i.e. at
//   least 80% of the sgemm rate);
// - the same for the backward (grad_x and grad_w: two grouped GEMMs against two dense sgemms);
// - plan_dispatch + dispatch + combine (the pad-free data movement around the expert GEMMs), as a
//   fraction of the grouped_matmul forward.
#include <cblas.h>

#include <moelab/moelab.h>

#include "bench_ratio.h"

namespace {
using namespace moelab;

constexpr int64_t kT = 2048, kD = 256, kF = 1024, kE = 8, kK = 2;

struct Setup {
  Tensor x, ids, weights, w, xs, gy;
  moe::DispatchPlan plan;
  Setup() {
    set_num_threads(1);
    Generator g(0);
    x = randn({kT, kD}, kF32, &g);
    ids = std::get<1>(topk(rand({kT, kE}, kF32, &g), kK));  // k distinct random experts per token
    weights = rand({kT, kK}, kF32, &g);
    w = randn({kE, kD, kF}, kF32, &g);
    plan = moe::plan_dispatch(ids, kE);
    xs = moe::dispatch(x, plan);
    gy = randn({plan.num_rows(), kF}, kF32, &g);
  }
};

const Setup& setup() {
  static Setup s;
  return s;
}

void BM_grouped_matmul_fwd(benchmark::State& st) {
  const Setup& s = setup();
  for (auto _ : st) benchmark::DoNotOptimize(moe::grouped_matmul(s.xs, s.w, s.plan.offsets_cpu));
  st.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * s.plan.num_rows() * kD * kF * st.iterations(), benchmark::Counter::kIsRate,
                         benchmark::Counter::kIs1000);
}

void BM_dense_sgemm_fwd(benchmark::State& st) {
  const Setup& s = setup();
  const int64_t n = s.plan.num_rows();
  Tensor a = s.xs, b = s.w.select(0, 0).contiguous();
  Tensor c = empty({n, kF});
  for (auto _ : st) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(n), kF, kD, 1.0f, a.data_ptr<float>(), kD,
                b.data_ptr<float>(), kF, 0.0f, c.data_ptr<float>(), kF);
    benchmark::DoNotOptimize(c.data_ptr<float>());
  }
  st.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * n * kD * kF * st.iterations(), benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

// grad_x = grouped(gy, w^T), grad_w = grouped_tn(xs, gy): what grouped_matmul's backward runs.
void BM_grouped_matmul_bwd(benchmark::State& st) {
  const Setup& s = setup();
  for (auto _ : st) {
    benchmark::DoNotOptimize(moe::grouped_matmul(s.gy, s.w.transpose(1, 2), s.plan.offsets_cpu));
    benchmark::DoNotOptimize(moe::grouped_matmul_tn(s.xs, s.gy, s.plan.offsets_cpu));
  }
}

void BM_dense_sgemm_bwd(benchmark::State& st) {
  const Setup& s = setup();
  const int n = static_cast<int>(s.plan.num_rows());
  Tensor b = s.w.select(0, 0).contiguous();
  Tensor gx = empty({n, kD}), gw = empty({kD, kF});
  for (auto _ : st) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, kD, kF, 1.0f, s.gy.data_ptr<float>(), kF,
                b.data_ptr<float>(), kF, 0.0f, gx.data_ptr<float>(), kD);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kD, kF, n, 1.0f, s.xs.data_ptr<float>(), kD,
                s.gy.data_ptr<float>(), kF, 0.0f, gw.data_ptr<float>(), kF);
    benchmark::DoNotOptimize(gw.data_ptr<float>());
  }
}

// The data movement around the expert GEMMs of one MoE layer: plan, gather x [T, d] -> [N, d],
// weighted scatter-add of the expert output [N, d] back to [T, d].
void BM_dispatch_combine(benchmark::State& st) {
  const Setup& s = setup();
  for (auto _ : st) {
    moe::DispatchPlan p = moe::plan_dispatch(s.ids, kE);
    Tensor xs = moe::dispatch(s.x, p);
    benchmark::DoNotOptimize(moe::combine(xs, s.weights, p, kT));
  }
}

void BM_dispatch_only(benchmark::State& st) {
  const Setup& s = setup();
  for (auto _ : st) benchmark::DoNotOptimize(moe::dispatch(s.x, s.plan));
}

void BM_combine_only(benchmark::State& st) {
  const Setup& s = setup();
  for (auto _ : st) benchmark::DoNotOptimize(moe::combine(s.xs, s.weights, s.plan, kT));
}

void BM_plan_dispatch(benchmark::State& st) {
  const Setup& s = setup();
  for (auto _ : st) benchmark::DoNotOptimize(moe::plan_dispatch(s.ids, kE));
}

BENCHMARK(BM_grouped_matmul_fwd)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_dense_sgemm_fwd)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_grouped_matmul_bwd)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_dense_sgemm_bwd)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_dispatch_combine)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_dispatch_only)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_combine_only)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_plan_dispatch)->Unit(benchmark::kMicrosecond);

MOELAB_BENCH_RATIO("grouped_matmul fwd vs one dense sgemm", "BM_grouped_matmul_fwd", "BM_dense_sgemm_fwd", "<= 1.25");
MOELAB_BENCH_RATIO("grouped_matmul bwd vs two dense sgemms", "BM_grouped_matmul_bwd", "BM_dense_sgemm_bwd",
                   "<= 1.25");
MOELAB_BENCH_RATIO("plan+dispatch+combine vs grouped fwd", "BM_dispatch_combine", "BM_grouped_matmul_fwd",
                   "small (fraction of one expert GEMM)");
MOELAB_BENCH_RATIO("plan_dispatch vs grouped fwd", "BM_plan_dispatch", "BM_grouped_matmul_fwd", "small");

}  // namespace

MOELAB_BENCH_MAIN()
