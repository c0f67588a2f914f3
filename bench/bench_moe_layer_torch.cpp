// The libtorch half of bench_moe_layer (see bench_moe_layer.cpp): the HF transformers Mixtral
// sparse MoE block (MixtralSparseMoeBlock.forward, transformers 4.36+) written in libtorch C++ the
// way the Python reads: router nn.Linear, softmax, topk, renormalise, one_hot mask, a loop over
// experts with torch.where + advanced indexing, SwiGLU experts as three bias-free nn.Linear maps
// (w2(silu(w1 x) * w3 x)), index_add_ into the output. Built in its own target with libtorch's
// compile flags; moelab's warning flags do not apply to libtorch's headers.
#include <cblas.h>
#include <torch/torch.h>

#include <benchmark/benchmark.h>

#include "bench_moe_layer.h"

namespace moelab::bench::moe_layer {
namespace {

namespace F = torch::nn::functional;
using torch::indexing::None;

void one_thread() {
  torch::set_num_threads(1);
  static bool interop = [] {
    try {
      at::set_num_interop_threads(1);  // allowed only before any inter-op work started
    } catch (const std::exception&) {
    }
    return true;
  }();
  (void)interop;
  openblas_set_num_threads(1);
}

torch::Tensor floats(const float* p, at::IntArrayRef shape) {
  return torch::from_blob(const_cast<float*>(p), shape, torch::kFloat32).clone();
}

// The block's state: one bias-free nn.Linear weight per expert and projection ([out, in] layout),
// as HF's ModuleList of MixtralBlockSparseTop2MLP holds them.
struct MixtralBlock {
  const Config& c;
  torch::Tensor x, gy, gate;
  std::vector<torch::Tensor> w1, w2, w3;

  explicit MixtralBlock(int config) : c(kConfigs[config]) {
    const Data& d = data(config);
    x = floats(d.x.data(), {c.T, c.d}).requires_grad_(true);
    gy = floats(d.gy.data(), {c.T, c.d});
    gate = floats(d.wg.data(), {c.E, c.d}).requires_grad_(true);
    for (int64_t e = 0; e < c.E; ++e) {
      // moelab keeps w1[e] as [d, f] (x @ w1[e]); nn.Linear(d, f).weight is its transpose [f, d].
      w1.push_back(floats(d.w1.data() + e * c.d * c.f, {c.d, c.f}).t().contiguous().requires_grad_(true));
      w3.push_back(floats(d.w3.data() + e * c.d * c.f, {c.d, c.f}).t().contiguous().requires_grad_(true));
      w2.push_back(floats(d.w2.data() + e * c.f * c.d, {c.f, c.d}).t().contiguous().requires_grad_(true));
    }
  }

  std::vector<torch::Tensor*> leaves() {
    std::vector<torch::Tensor*> v{&x, &gate};
    for (int64_t e = 0; e < c.E; ++e) v.insert(v.end(), {&w1[e], &w2[e], &w3[e]});
    return v;
  }

  // MixtralSparseMoeBlock.forward (router_logits are returned there too; unused here).
  torch::Tensor forward() {
    const torch::Tensor& hidden_states = x;
    torch::Tensor router_logits = F::linear(hidden_states, gate);
    torch::Tensor routing_weights = F::softmax(router_logits, F::SoftmaxFuncOptions(1).dtype(torch::kFloat));
    auto [top_weights, selected_experts] = torch::topk(routing_weights, c.k, -1);
    top_weights /= top_weights.sum(-1, true);
    top_weights = top_weights.to(hidden_states.dtype());
    torch::Tensor final_hidden_states = torch::zeros({c.T, c.d}, hidden_states.options());
    torch::Tensor expert_mask = F::one_hot(selected_experts, c.E).permute({2, 1, 0});
    for (int64_t e = 0; e < c.E; ++e) {
      std::vector<torch::Tensor> where = torch::where(expert_mask[e]);
      const torch::Tensor &idx = where[0], &top_x = where[1];
      torch::Tensor current_state = hidden_states.index({None, top_x}).reshape({-1, c.d});
      // MixtralBlockSparseTop2MLP: w2(act_fn(w1(x)) * w3(x))
      torch::Tensor h = F::silu(F::linear(current_state, w1[e])) * F::linear(current_state, w3[e]);
      torch::Tensor current_hidden_states = F::linear(h, w2[e]) * top_weights.index({top_x, idx, None});
      final_hidden_states.index_add_(0, top_x, current_hidden_states.to(hidden_states.dtype()));
    }
    return final_hidden_states;
  }

  void step() {
    for (torch::Tensor* t : leaves()) t->mutable_grad().reset();  // zero_grad(set_to_none=True)
    forward().backward(gy);
  }
};

void BM_moe_layer_torch(benchmark::State& state) {
  one_thread();
  MixtralBlock b(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    b.step();
    benchmark::DoNotOptimize(b.gate.grad().data_ptr());
  }
  state.counters["expert GFLOP/s"] =
      benchmark::Counter(b.c.expert_flops() * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate,
                         benchmark::Counter::kIs1000);
}
BENCHMARK(BM_moe_layer_torch)->DenseRange(0, kNumConfigs - 1)->Unit(benchmark::kMillisecond);

std::vector<float> to_vec(const torch::Tensor& t) {
  torch::Tensor c = t.detach().contiguous();
  return {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()};
}

const bool registered = [] {
  TorchSide& s = torch_side();
  s.make_step = [](int config) {
    return MakeStep([config] {
      one_thread();
      auto b = std::make_shared<MixtralBlock>(config);
      return std::function<void()>([b] { b->step(); });
    });
  };
  s.outputs = [](int config) {
    one_thread();
    MixtralBlock b(config);
    for (torch::Tensor* t : b.leaves()) t->mutable_grad().reset();
    torch::Tensor out = b.forward();
    out.backward(b.gy);
    std::vector<float> v = to_vec(out), gx = to_vec(b.x.grad()), gg = to_vec(b.gate.grad());
    v.insert(v.end(), gx.begin(), gx.end());
    v.insert(v.end(), gg.begin(), gg.end());
    return v;
  };
  return true;
}();

}  // namespace
}  // namespace moelab::bench::moe_layer
