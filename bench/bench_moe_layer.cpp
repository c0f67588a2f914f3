// The MoE layer benchmark (#5): forward + backward of one SwiGLU MoE layer, ONE thread, in
// one session, for each configuration in bench_moe_layer.h (the benchmark argument): /0 is the
// issue's T = 2048 tokens, d = 256, f = 1024, E = 8 experts, top-2; /1 the same layer cut into 8x
// finer experts (E = 64, f = 128, top-16: the same parameters and FLOPs):
// - BM_moe_layer_moelab: moe::MoELayer (TopKRouter, plan_dispatch / dispatch, grouped_swiglu_ffn,
//   combine), forward then backward;
//   BM_moe_layer_moelab_composed: the expert FFN composed from grouped_matmul x3 and swiglu;
//   BM_moe_layer_moelab_phases: CPU time per phase;
// - BM_moe_layer_torch (bench_moe_layer_torch.cpp, built when libtorch is found): HF transformers'
//   MixtralSparseMoeBlock written in libtorch, the usual loop over experts with index_add_;
//   target: moelab at least 1.5x faster;
// - BM_expert_sgemm: the layer's expert FLOPs as nine dense cblas_sgemm calls on [T*k, d] x [d, f]
//   shapes (3 forward, 6 backward); target: moelab at >= 80% of that rate (time ratio <= 1.25);
// - before the timings, the peak resident-memory growth of one step of each implementation, each
//   in forked children (peak_rss.h), median of 3, printed at the end; target: moelab's no higher
//   than libtorch's.
// - the fp32 FMA peak of the core (fma_peak.h), and what the 1.5x target asks against it.
// Ratios use real time (bench_ratio.h); on a loaded machine compare the CPU column too.
// Both sides start from the same inputs and weights (bench_moe_layer.h) and their outputs and
// gradients are compared before timing.
#include <cblas.h>

#include <moelab/moelab.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>

#include "bench_moe_layer.h"
#include "bench_ratio.h"
#include "fma_peak.h"
#include "peak_rss.h"

namespace moelab::bench::moe_layer {

const Data& data(int config) {
  static std::map<int, Data> cache;
  auto it = cache.find(config);
  if (it != cache.end()) return it->second;
  const Config& c = kConfigs[config];
  const Data d = [&] {
    Generator g(0);
    auto vec = [&](const Shape& s, double scale) { return (randn(s, kF32, &g) * scale).to_vector<float>(); };
    Data r;
    r.x = vec({c.T, c.d}, 1.0);
    r.gy = vec({c.T, c.d}, 1.0);
    r.wg = vec({c.E, c.d}, 1.0 / std::sqrt(double(c.d)));
    r.w1 = vec({c.E, c.d, c.f}, 1.0 / std::sqrt(double(c.d)));
    r.w3 = vec({c.E, c.d, c.f}, 1.0 / std::sqrt(double(c.d)));
    r.w2 = vec({c.E, c.f, c.d}, 1.0 / std::sqrt(double(c.f)));
    return r;
  }();
  return cache.emplace(config, d).first->second;
}

namespace {

// The same dropless SwiGLU MoE layer as moe::MoELayer, written from moelab's MoE primitives:
// route (softmax -> top-k -> renormalise), sort the T*k slots by expert, run each expert's
// segment through w2(silu(x w1) * (x w3)), and scatter-add the weighted rows back. `fused` picks
// the expert FFN primitive grouped_swiglu_ffn; otherwise it is composed from grouped_matmul x3
// and swiglu (same values; more memory at the backward's peak, see docs/moe.md).
Tensor moe_layer_reference_path(const Tensor& x, moe::TopKRouter& router, const Tensor& w1, const Tensor& w3,
                                const Tensor& w2, bool fused = true) {
  const moe::RoutingDecision r = router(x);
  const moe::DispatchPlan plan = moe::plan_dispatch(r.expert_ids, router.num_experts(), r.kept);
  const Tensor xs = moe::dispatch(x, plan);
  const std::vector<int64_t>& o = plan.offsets_cpu;
  const Tensor ys = fused ? moe::grouped_swiglu_ffn(xs, w1, w3, w2, o)
                          : moe::grouped_matmul(
                                moe::swiglu(moe::grouped_matmul(xs, w1, o), moe::grouped_matmul(xs, w3, o)), w2, o);
  return moe::combine(ys, r.weights, plan, x.size(0));
}

Tensor floats(const std::vector<float>& v, const Shape& s) { return from_vector(v, s); }

struct MoelabLayer {
  const Config& c;
  Tensor x, gy;
  std::shared_ptr<moe::TopKRouter> router;
  std::unique_ptr<moe::MoELayer> layer;
  Tensor w1, w3, w2;  // the layer's expert weights (same tensors)

  bool fused = true;

  explicit MoelabLayer(int config, bool fused_ffn = true) : c(kConfigs[config]), fused(fused_ffn) {
    set_num_threads(1);
    const Data& d = data(config);
      x = floats(d.x, {c.T, c.d}).requires_grad_();
    gy = floats(d.gy, {c.T, c.d});
    moe::RouterOptions o;
    o.d_model = c.d;
    o.num_experts = c.E;
    o.top_k = c.k;
    router = std::make_shared<moe::TopKRouter>(o, moe::TopKOrder::kSoftmaxThenTopK, /*renormalize=*/true);
    moe::MoELayerOptions lo;
    lo.d_ff = c.f;
    lo.activation = "swiglu";
    layer = std::make_unique<moe::MoELayer>(router, lo);
    autograd::NoGradGuard ng;
    layer->tensor_slot("router.weight").copy_(floats(d.wg, {c.E, c.d}));
    layer->tensor_slot("experts.w1").copy_(floats(d.w1, {c.E, c.d, c.f}));
    layer->tensor_slot("experts.w3").copy_(floats(d.w3, {c.E, c.d, c.f}));
    layer->tensor_slot("experts.w2").copy_(floats(d.w2, {c.E, c.f, c.d}));
    w1 = layer->tensor_slot("experts.w1");
    w3 = layer->tensor_slot("experts.w3");
    w2 = layer->tensor_slot("experts.w2");
  }
  // moe::MoELayer itself, or the same maths written from the primitives with the composed expert FFN.
  Tensor forward() { return fused ? (*layer)(x) : moe_layer_reference_path(x, *router, w1, w3, w2, false); }
  void zero_grad() {
    x.mutable_grad() = Tensor();
    layer->zero_grad();
  }
  void step() {
    zero_grad();
    forward().backward(gy);
  }
};

void run_moelab(benchmark::State& st, bool fused_ffn) {
  MoelabLayer l(static_cast<int>(st.range(0)), fused_ffn);
  for (auto _ : st) {
    l.step();
    benchmark::DoNotOptimize(l.w1.grad().raw_data());
  }
  // moelab's own allocator figures for one step from an empty cache (what peak_rss.h sees in RSS).
  cpu_allocator().empty_cache();
  const int64_t before = cpu_allocator().stats().allocated_bytes;
  cpu_allocator().reset_peak();
  l.step();
  const AllocatorStats a = cpu_allocator().stats();
  st.counters["peak MiB"] = static_cast<double>(a.peak_allocated_bytes - before) / (1 << 20);
  st.counters["reserved MiB"] = static_cast<double>(a.reserved_bytes - before) / (1 << 20);
  st.counters["expert GFLOP/s"] = benchmark::Counter(l.c.expert_flops() * static_cast<double>(st.iterations()),
                                                     benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}
void BM_moe_layer_moelab(benchmark::State& st) { run_moelab(st, true); }
void BM_moe_layer_moelab_composed(benchmark::State& st) { run_moelab(st, false); }
BENCHMARK(BM_moe_layer_moelab)->DenseRange(0, kNumConfigs - 1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_moe_layer_moelab_composed)->DenseRange(0, kNumConfigs - 1)->Unit(benchmark::kMillisecond);

// Where moelab's step goes: moe_layer_reference_path phase by phase (CPU time of this thread per
// step, ms), then the backward as a whole.
double thread_cpu_ms() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

void BM_moe_layer_moelab_phases(benchmark::State& st) {
  MoelabLayer l(static_cast<int>(st.range(0)));
  const char* names[] = {"router", "plan+dispatch", "expert ffn", "combine", "backward"};
  double acc[5] = {};
  for (auto _ : st) {
    l.zero_grad();
    double t = thread_cpu_ms();
    auto lap = [&](int i) {
      const double n = thread_cpu_ms();
      acc[i] += n - t;
      t = n;
    };
    const moe::RoutingDecision r = (*l.router)(l.x);
    lap(0);
    const moe::DispatchPlan plan = moe::plan_dispatch(r.expert_ids, l.c.E, r.kept);
    const Tensor xs = moe::dispatch(l.x, plan);
    lap(1);
    const Tensor ys = moe::grouped_swiglu_ffn(xs, l.w1, l.w3, l.w2, plan.offsets_cpu);
    lap(2);
    const Tensor out = moe::combine(ys, r.weights, plan, l.c.T);
    lap(3);
    out.backward(l.gy);
    lap(4);
  }
  for (int i = 0; i < 5; ++i) st.counters[names[i]] = acc[i] / static_cast<double>(st.iterations());
}
BENCHMARK(BM_moe_layer_moelab_phases)->DenseRange(0, kNumConfigs - 1)->Unit(benchmark::kMillisecond);

// The expert FLOPs as dense sgemms with N = T*k rows, the transposes the backward uses:
// forward h1 = xs w1, h3 = xs w3, y = h w2; backward gh = gys w2^T, gw2 = h^T gys,
// gxs = gh1 w1^T + gh3 w3^T, gw1 = xs^T gh1, gw3 = xs^T gh3.
void BM_expert_sgemm(benchmark::State& st) {
  set_num_threads(1);
  const Config& c = kConfigs[st.range(0)];
  const int n = static_cast<int>(c.T * c.k), d = static_cast<int>(c.d), f = static_cast<int>(c.f);
  Generator g(1);
  const Tensor xs = randn({n, d}, kF32, &g), gys = randn({n, d}, kF32, &g);
  const Tensor w1 = randn({d, f}, kF32, &g), w3 = randn({d, f}, kF32, &g), w2 = randn({f, d}, kF32, &g);
  Tensor h1 = empty({n, f}), h3 = empty({n, f}), y = empty({n, d}), gh = empty({n, f}), gw2 = empty({f, d});
  Tensor gxs = empty({n, d}), gw1 = empty({d, f}), gw3 = empty({d, f});
  auto P = [](const Tensor& t) { return t.data_ptr<float>(); };
  auto gemm = [](CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int nn, int k, const float* a, int lda,
                 const float* b, int ldb, float beta, float* out, int ldc) {
    cblas_sgemm(CblasRowMajor, ta, tb, m, nn, k, 1.0f, a, lda, b, ldb, beta, out, ldc);
  };
  const auto N = CblasNoTrans, Tr = CblasTrans;
  for (auto _ : st) {
    gemm(N, N, n, f, d, P(xs), d, P(w1), f, 0, P(h1), f);
    gemm(N, N, n, f, d, P(xs), d, P(w3), f, 0, P(h3), f);
    gemm(N, N, n, d, f, P(h1), f, P(w2), d, 0, P(y), d);
    gemm(N, Tr, n, f, d, P(gys), d, P(w2), d, 0, P(gh), f);
    gemm(Tr, N, f, d, n, P(h1), f, P(gys), d, 0, P(gw2), d);
    gemm(N, Tr, n, d, f, P(gh), f, P(w1), f, 0, P(gxs), d);
    gemm(N, Tr, n, d, f, P(h3), f, P(w3), f, 1, P(gxs), d);
    gemm(Tr, N, d, f, n, P(xs), d, P(gh), f, 0, P(gw1), f);
    gemm(Tr, N, d, f, n, P(xs), d, P(h3), f, 0, P(gw3), f);
    benchmark::DoNotOptimize(P(gw3));
  }
  st.counters["expert GFLOP/s"] = benchmark::Counter(c.expert_flops() * static_cast<double>(st.iterations()),
                                                     benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_expert_sgemm)->DenseRange(0, kNumConfigs - 1)->Unit(benchmark::kMillisecond);

// Config 0 is the issue's; config 1 shows the same layer at 8x finer granularity.
MOELAB_BENCH_RATIO("moelab vs libtorch (HF Mixtral loop)", "BM_moe_layer_moelab/0", "BM_moe_layer_torch/0",
                   "<= 0.667 (>= 1.5x faster)");
MOELAB_BENCH_RATIO("moelab composed vs libtorch", "BM_moe_layer_moelab_composed/0", "BM_moe_layer_torch/0",
                   "(the expert FFN from grouped_matmul x3 + swiglu)");
MOELAB_BENCH_RATIO("moelab vs dense sgemm (expert FLOPs)", "BM_moe_layer_moelab/0", "BM_expert_sgemm/0",
                   "<= 1.25 (>= 80% of the sgemm rate)");
MOELAB_BENCH_RATIO("fine-grained: moelab vs libtorch", "BM_moe_layer_moelab/1", "BM_moe_layer_torch/1",
                   "(E=64 f=128 top-16)");
MOELAB_BENCH_RATIO("fine-grained: moelab composed vs libtorch", "BM_moe_layer_moelab_composed/1",
                   "BM_moe_layer_torch/1", "(E=64 f=128 top-16)");
MOELAB_BENCH_RATIO("fine-grained: moelab vs dense sgemm", "BM_moe_layer_moelab/1", "BM_expert_sgemm/1",
                   "(sgemms with f=128)");

std::vector<float> cat3(const Tensor& a, const Tensor& b, const Tensor& c) {
  std::vector<float> v = a.contiguous().to_vector<float>(), vb = b.contiguous().to_vector<float>(),
                     vc = c.contiguous().to_vector<float>();
  v.insert(v.end(), vb.begin(), vb.end());
  v.insert(v.end(), vc.begin(), vc.end());
  return v;
}

// Outputs and gradients of both sides agree (same routing, same maths up to summation order).
void check_agreement(int config) {
  if (!torch_side().outputs) return;
  MoelabLayer l(config);
  l.zero_grad();
  Tensor out = l.forward();
  out.backward(l.gy);
  const std::vector<float> a = cat3(out, l.x.grad(), l.router->parameters()[0].grad());
  const std::vector<float> b = torch_side().outputs(config);
  double worst = a.size() == b.size() ? 0.0 : INFINITY;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    worst = std::max(worst, std::abs(double(a[i]) - b[i]) / (1.0 + std::abs(double(b[i]))));
  std::printf("agreement moelab vs libtorch, %s (out, grad x, grad router): max |diff| / (1 + |ref|) = %.2e%s\n",
              kConfigs[config].name, worst, worst < 1e-3 ? "" : "  MISMATCH");
}

// Each implementation's peak in fresh forked children, alternating, three times each; the median
// is reported (other processes on a shared machine move RSS figures by a few MiB).
struct PeakReport {
  double moelab_mib = -1, torch_mib = -1, composed_mib = -1;
};

PeakReport measure_peak_memory(int config) {
  // moelab's CPU allocator caches freed blocks: empty it before the measured step, so that the
  // step's peak includes what the cache must hold (libtorch's CPU allocator does not cache).
  const auto release = [] { cpu_allocator().empty_cache(); };
  auto moelab_step = [config](bool fused) {
    return MakeStep([config, fused] {
      auto l = std::make_shared<MoelabLayer>(config, fused);
      return std::function<void()>([l] { l->step(); });
    });
  };
  std::vector<double> a, b, c;
  for (int rep = 0; rep < 3; ++rep) {
    const PeakRss m = measure_peak_rss(moelab_step(true), release);
    if (m.ok()) a.push_back(m.growth_kb() / 1024.0);
    const PeakRss mc = measure_peak_rss(moelab_step(false), release);
    if (mc.ok()) c.push_back(mc.growth_kb() / 1024.0);
    if (torch_side().make_step) {
      const PeakRss t = measure_peak_rss(torch_side().make_step(config), release);
      if (t.ok()) b.push_back(t.growth_kb() / 1024.0);
    }
  }
  auto median = [](std::vector<double> v) {
    if (v.empty()) return -1.0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  return {median(a), median(b), median(c)};
}

void print_peak_memory(int config, const PeakReport& r) {
  std::printf("\npeak memory, %s (growth of VmHWM over VmRSS during one forward + backward, forked child, median of 3):\n",
              kConfigs[config].name);
  std::printf("  moelab   %8.1f MiB  (composed expert FFN: %.1f MiB)\n", r.moelab_mib, r.composed_mib);
  if (!torch_side().make_step) {
    std::printf("  libtorch (not built)\n");
    return;
  }
  std::printf("  libtorch %8.1f MiB\n", r.torch_mib);
  if (r.moelab_mib > 0 && r.torch_mib > 0)
    std::printf("  ratio moelab / libtorch %.3f  target: <= 1\n", r.moelab_mib / r.torch_mib);
  else
    std::printf("  (measurement failed)\n");
}

// What the 1.5x target asks of config 0 in expert FLOPs per second, against the fp32 FMA peak of
// this core measured in the same run: no f32 implementation, on any GEMM, can run faster than it.
void print_target_bound(const RatioReporter& reporter, double peak_gflops) {
  const double torch_ns = reporter.time_ns("BM_moe_layer_torch/0");
  if (torch_ns <= 0 || peak_gflops <= 0) return;
  const double needed = kConfigs[0].expert_flops() / (torch_ns / 1.5);
  std::printf("\nbound: 1.5x the libtorch time needs %.1f expert GFLOP/s; this core's fp32 FMA peak is %.1f GFLOP/s"
              " (%.0f%% of it)\n",
              needed, peak_gflops, 100.0 * needed / peak_gflops);
}

}  // namespace
}  // namespace moelab::bench::moe_layer

int main(int argc, char** argv) {
  namespace ml = moelab::bench::moe_layer;
  ::benchmark::Initialize(&argc, argv);
  for (int c = 0; c < ml::kNumConfigs; ++c) ml::check_agreement(c);
  // Memory first, forked from a parent whose heap the timing runs have not grown yet.
  std::vector<ml::PeakReport> peaks;
  for (int c = 0; c < ml::kNumConfigs; ++c) peaks.push_back(ml::measure_peak_memory(c));
  const double fma_peak = moelab::bench::fp32_fma_peak_gflops();
  std::printf("fp32 FMA peak of one core: %.1f GFLOP/s\n\n", fma_peak);
  moelab::bench::RatioReporter reporter;
  ::benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_ratios();
  ml::print_target_bound(reporter, fma_peak);
  for (int c = 0; c < ml::kNumConfigs; ++c) ml::print_peak_memory(c, peaks[size_t(c)]);
  ::benchmark::Shutdown();
  return 0;
}
