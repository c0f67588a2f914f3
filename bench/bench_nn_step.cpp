// One SGD training step (forward, cross_entropy, backward, zero_grad + SGD momentum step), moelab
// against libtorch 1.13 on the same data, same initial weights and one thread each:
//   MLP 784-256-10, batch 128            target: moelab <= 0.9x libtorch's time
//   small CNN on [64, 1, 28, 28] inputs  target: moelab <= 1.0x libtorch's time
// The libtorch half lives in bench_nn_step_torch.cpp (built only when CMake finds Torch); without
// it the ratios print "(not run)". Each step restarts from the same weights' trajectory as the
// other side only in the first iteration; both keep training on the same batch afterwards, which
// costs the same per step.
#include "bench_nn_step.h"

#include <cblas.h>

#include <cmath>

#include <moelab/moelab.h>

#include "bench_ratio.h"

namespace moelab::bench::nn_step {
namespace {

std::vector<float> values(const Tensor& t) {
  Tensor c = t.detach().contiguous();
  const float* p = c.data_ptr<float>();
  return {p, p + c.numel()};
}

std::vector<int64_t> labels(int64_t n) {
  Tensor y = randint(0, 10, {n});
  const int64_t* p = y.data_ptr<int64_t>();
  return {p, p + n};
}

// PyTorch's Conv2d.reset_parameters: kaiming_uniform(a = sqrt(5)) weight, U(-1/sqrt(fan_in), ..) bias.
std::pair<Tensor, Tensor> conv_params(int64_t out, int64_t in, int64_t k) {
  Tensor w = empty({out, in, k, k}), b = empty({out});
  nn::init::kaiming_uniform_(w, std::sqrt(5.0));
  nn::init::uniform_(b, -1 / std::sqrt(static_cast<double>(in * k * k)), 1 / std::sqrt(static_cast<double>(in * k * k)));
  return {w, b};
}

void one_thread() {
  set_num_threads(1);  // moelab's pool, OpenBLAS and oneDNN (through moelab's thread listeners)
  openblas_set_num_threads(1);
}

}  // namespace

const MlpData& mlp_data() {
  static const MlpData d = [] {
    manual_seed(1);
    nn::Linear l1(kMlpIn, kMlpHidden), l2(kMlpHidden, kMlpOut);
    return MlpData{values(randn({kMlpBatch, kMlpIn})), labels(kMlpBatch), values(l1.weight()), values(l1.bias()),
                   values(l2.weight()), values(l2.bias())};
  }();
  return d;
}

const CnnData& cnn_data() {
  static const CnnData d = [] {
    manual_seed(2);
    auto [w1, b1] = conv_params(kCnnC1, 1, 3);
    auto [w2, b2] = conv_params(kCnnC2, kCnnC1, 3);
    nn::Linear l3(kCnnC2 * (kCnnHw / 2) * (kCnnHw / 2), kCnnOut);
    return CnnData{values(randn({kCnnBatch, 1, kCnnHw, kCnnHw})), labels(kCnnBatch), values(w1), values(b1),
                   values(w2), values(b2), values(l3.weight()), values(l3.bias())};
  }();
  return d;
}

namespace {

void assign(Tensor dst, const Tensor& src) {  // Tensor is a handle: dst shares the parameter
  autograd::NoGradGuard g;
  dst.copy_(src);
}

Tensor param(const std::vector<float>& v, const Shape& shape) {
  Tensor t = from_vector(v, shape);
  t.requires_grad_();
  return t;
}

optim::SGD make_sgd(std::vector<Tensor> params) {
  return optim::SGD(std::move(params), {.lr = kLr, .momentum = kMomentum});
}

void BM_nn_step_mlp_moelab(benchmark::State& state) {
  one_thread();
  const MlpData& d = mlp_data();
  nn::Linear l1(kMlpIn, kMlpHidden), l2(kMlpHidden, kMlpOut);
  assign(l1.weight(), from_vector(d.w1, {kMlpHidden, kMlpIn}));
  assign(l1.bias(), from_vector(d.b1, {kMlpHidden}));
  assign(l2.weight(), from_vector(d.w2, {kMlpOut, kMlpHidden}));
  assign(l2.bias(), from_vector(d.b2, {kMlpOut}));
  Tensor x = from_vector(d.x, {kMlpBatch, kMlpIn}), y = from_vector(d.y, {kMlpBatch});
  std::vector<Tensor> params = l1.parameters();
  for (const Tensor& p : l2.parameters()) params.push_back(p);
  optim::SGD opt = make_sgd(params);
  for (auto _ : state) {
    opt.zero_grad(true);
    Tensor loss = cross_entropy(l2(relu(l1(x))), y);
    loss.backward();
    opt.step();
    benchmark::DoNotOptimize(l2.weight().raw_data());
  }
}
BENCHMARK(BM_nn_step_mlp_moelab)->Unit(benchmark::kMicrosecond);

void BM_nn_step_cnn_moelab(benchmark::State& state) {
  one_thread();
  const CnnData& d = cnn_data();
  const int64_t flat = kCnnC2 * (kCnnHw / 2) * (kCnnHw / 2);
  Tensor w1 = param(d.w1, {kCnnC1, 1, 3, 3}), b1 = param(d.b1, {kCnnC1});
  Tensor w2 = param(d.w2, {kCnnC2, kCnnC1, 3, 3}), b2 = param(d.b2, {kCnnC2});
  nn::Linear l3(flat, kCnnOut);
  assign(l3.weight(), from_vector(d.w3, {kCnnOut, flat}));
  assign(l3.bias(), from_vector(d.b3, {kCnnOut}));
  Tensor x = from_vector(d.x, {kCnnBatch, 1, kCnnHw, kCnnHw}), y = from_vector(d.y, {kCnnBatch});
  optim::SGD opt = make_sgd({w1, b1, w2, b2, l3.weight(), l3.bias()});
  for (auto _ : state) {
    opt.zero_grad(true);
    Tensor h = relu(conv2d(x, w1, b1, 1, 1));
    h = max_pool2d(relu(conv2d(h, w2, b2, 1, 1)), 2);
    Tensor loss = cross_entropy(l3(h.flatten(1)), y);
    loss.backward();
    opt.step();
    benchmark::DoNotOptimize(w1.raw_data());
  }
}
BENCHMARK(BM_nn_step_cnn_moelab)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace moelab::bench::nn_step

MOELAB_BENCH_RATIO("MLP 784-256-10 b128 SGD step", "BM_nn_step_mlp_moelab", "BM_nn_step_mlp_torch",
                   "moelab <= 0.9x libtorch (ratio <= 0.9)");
MOELAB_BENCH_RATIO("CNN conv32-conv64-pool-fc b64 SGD step", "BM_nn_step_cnn_moelab", "BM_nn_step_cnn_torch",
                   "moelab <= 1.0x libtorch (ratio <= 1.0)");

MOELAB_BENCH_MAIN()
