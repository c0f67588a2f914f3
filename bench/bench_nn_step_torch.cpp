// The libtorch half of bench_nn_step (see bench_nn_step.cpp): the same two training steps through
// torch::nn and torch::optim::SGD, from the same data and initial weights. Built in its own target
// with libtorch's compile flags; moelab's warning flags do not apply to libtorch's headers.
#include <cblas.h>
#include <torch/torch.h>

#include <benchmark/benchmark.h>

#include "bench_nn_step.h"

namespace moelab::bench::nn_step {
namespace {

torch::Tensor floats(const std::vector<float>& v, at::IntArrayRef shape) {
  return torch::from_blob(const_cast<float*>(v.data()), shape, torch::kFloat32).clone();
}

torch::Tensor longs(const std::vector<int64_t>& v) {
  return torch::from_blob(const_cast<int64_t*>(v.data()), {static_cast<int64_t>(v.size())}, torch::kInt64).clone();
}

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

// libtorch 1.13's C++ Optimizer::zero_grad() zeroes grads in place; PyTorch >= 2.0 and moelab's
// zero_grad() default set them to none. Both sides here set them to none (what torch 1.13's Python
// zero_grad(set_to_none=True) does), so backward hands each parameter its fresh gradient.
void zero_grad_to_none(torch::optim::Optimizer& opt) {
  for (auto& group : opt.param_groups())
    for (auto& p : group.params()) p.mutable_grad().reset();
}

void set_(torch::Tensor& dst, const torch::Tensor& src) {
  torch::NoGradGuard g;
  dst.copy_(src);
}

void BM_nn_step_mlp_torch(benchmark::State& state) {
  one_thread();
  const MlpData& d = mlp_data();
  torch::nn::Linear l1(kMlpIn, kMlpHidden), l2(kMlpHidden, kMlpOut);
  set_(l1->weight, floats(d.w1, {kMlpHidden, kMlpIn}));
  set_(l1->bias, floats(d.b1, {kMlpHidden}));
  set_(l2->weight, floats(d.w2, {kMlpOut, kMlpHidden}));
  set_(l2->bias, floats(d.b2, {kMlpOut}));
  torch::Tensor x = floats(d.x, {kMlpBatch, kMlpIn}), y = longs(d.y);
  std::vector<torch::Tensor> params = l1->parameters();
  for (const auto& p : l2->parameters()) params.push_back(p);
  torch::optim::SGD opt(params, torch::optim::SGDOptions(kLr).momentum(kMomentum));
  for (auto _ : state) {
    zero_grad_to_none(opt);
    torch::Tensor loss = torch::nn::functional::cross_entropy(l2(torch::relu(l1(x))), y);
    loss.backward();
    opt.step();
    benchmark::DoNotOptimize(l2->weight.data_ptr());
  }
}
BENCHMARK(BM_nn_step_mlp_torch)->Unit(benchmark::kMicrosecond);

void BM_nn_step_cnn_torch(benchmark::State& state) {
  one_thread();
  const CnnData& d = cnn_data();
  const int64_t flat = kCnnC2 * (kCnnHw / 2) * (kCnnHw / 2);
  torch::nn::Conv2d c1(torch::nn::Conv2dOptions(1, kCnnC1, 3).padding(1));
  torch::nn::Conv2d c2(torch::nn::Conv2dOptions(kCnnC1, kCnnC2, 3).padding(1));
  torch::nn::Linear l3(flat, kCnnOut);
  set_(c1->weight, floats(d.w1, {kCnnC1, 1, 3, 3}));
  set_(c1->bias, floats(d.b1, {kCnnC1}));
  set_(c2->weight, floats(d.w2, {kCnnC2, kCnnC1, 3, 3}));
  set_(c2->bias, floats(d.b2, {kCnnC2}));
  set_(l3->weight, floats(d.w3, {kCnnOut, flat}));
  set_(l3->bias, floats(d.b3, {kCnnOut}));
  torch::Tensor x = floats(d.x, {kCnnBatch, 1, kCnnHw, kCnnHw}), y = longs(d.y);
  std::vector<torch::Tensor> params = c1->parameters();
  for (const auto& p : c2->parameters()) params.push_back(p);
  for (const auto& p : l3->parameters()) params.push_back(p);
  torch::optim::SGD opt(params, torch::optim::SGDOptions(kLr).momentum(kMomentum));
  for (auto _ : state) {
    zero_grad_to_none(opt);
    torch::Tensor h = torch::relu(c1(x));
    h = torch::max_pool2d(torch::relu(c2(h)), 2);
    torch::Tensor loss = torch::nn::functional::cross_entropy(l3(h.flatten(1)), y);
    loss.backward();
    opt.step();
    benchmark::DoNotOptimize(c1->weight.data_ptr());
  }
}
BENCHMARK(BM_nn_step_cnn_torch)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace moelab::bench::nn_step
