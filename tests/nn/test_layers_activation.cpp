// The functional activations of moelab/ops/activation.h and the activation layers: golden values
// and gradients against PyTorch (kinks included, where the gradient convention matters), f64
// gradcheck and gradgradcheck, non-contiguous inputs, and errors.
#include <cmath>
#include <functional>
#include <map>

#include "autograd/grad_test_util.h"
#include "nn/layers_test_util.h"

using namespace moelab;
using moelab::testing::check_close;
using moelab::testing::layers_golden;

namespace {
using Act = std::function<Tensor(const Tensor&)>;

// The cases of gen_layers.py's ACTS, in the same order.
const std::map<std::string, Act>& activations() {
  static const std::map<std::string, Act> acts{
      {"leaky_relu", [](const Tensor& t) { return leaky_relu(t, 0.2); }},
      {"elu", [](const Tensor& t) { return elu(t, 1.5); }},
      {"selu", [](const Tensor& t) { return selu(t); }},
      {"celu", [](const Tensor& t) { return celu(t, 0.7); }},
      {"hardtanh", [](const Tensor& t) { return hardtanh(t, -1.0, 1.0); }},
      {"hardtanh_wide", [](const Tensor& t) { return hardtanh(t, -0.5, 3.0); }},
      {"relu6", [](const Tensor& t) { return relu6(t); }},
      {"hardsigmoid", [](const Tensor& t) { return hardsigmoid(t); }},
      {"hardswish", [](const Tensor& t) { return hardswish(t); }},
      {"mish", [](const Tensor& t) { return mish(t); }},
      {"logsigmoid", [](const Tensor& t) { return logsigmoid(t); }},
      {"softsign", [](const Tensor& t) { return softsign(t); }},
      {"tanhshrink", [](const Tensor& t) { return tanhshrink(t); }},
      {"softshrink", [](const Tensor& t) { return softshrink(t, 0.5); }},
      {"hardshrink", [](const Tensor& t) { return hardshrink(t, 0.5); }},
      {"threshold", [](const Tensor& t) { return threshold(t, 0.1, -2.0); }},
      {"glu", [](const Tensor& t) { return glu(t, 1); }},
      {"glu0", [](const Tensor& t) { return glu(t, 0); }},
      {"softmin", [](const Tensor& t) { return softmin(t, 1); }},
  };
  return acts;
}

Tensor leaf(const Tensor& t, bool non_contiguous) {
  Tensor l = (non_contiguous ? moelab::testing::non_contiguous_copy(t.clone()) : t.clone()).detach();
  l.requires_grad_();
  return l;
}
}  // namespace

TEST_CASE("nn layers: functional activations match PyTorch values and gradients, kinks included") {
  const auto& g = layers_golden();
  for (const auto& [name, fn] : activations()) {
    const std::string k = "act." + name;
    for (DType dt : {kF64, kF32}) {
      INFO(name << " in " << dt);
      const double rtol = dt == kF64 ? 1e-12 : 1e-5, atol = dt == kF64 ? 1e-14 : 1e-6;
      Tensor x = leaf(g[k + ".x"].to(dt), dt == kF64);
      Tensor y = fn(x);
      check_close(y, g[k + ".y"].to(dt), rtol, atol);
      auto grads = autograd::grad({y}, {x}, {g[k + ".gy"].to(dt)});
      // PyTorch 1.13's f64 backwards of hardsigmoid (it multiplies by 1.0f / 6) and celu (1 / alpha
      // rounded to float) hold only float precision; moelab's are exact.
      const bool float_precise = name == "hardsigmoid" || name == "celu";
      const double grad_rtol = float_precise && dt == kF64 ? 1e-6 : rtol;
      check_close(grads[0], g[k + ".dx"].to(dt), grad_rtol, atol);
    }
  }
  // prelu with a weight per channel, against PyTorch's input and weight gradients.
  Tensor x = leaf(g["act.prelu.x"], true), w = leaf(g["act.prelu.weight"], false);
  Tensor y = prelu(x, w);
  check_close(y, g["act.prelu.y"], 1e-12, 1e-14);
  auto grads = autograd::grad({y}, {x, w}, {g["act.prelu.gy"]});
  check_close(grads[0], g["act.prelu.dx"], 1e-12, 1e-14);
  check_close(grads[1], g["act.prelu.dweight"], 1e-12, 1e-14);
}

TEST_CASE("nn layers: functional activations pass f64 gradcheck and gradgradcheck") {
  // Random inputs keep clear of the kinks (a finite difference across one would be meaningless).
  manual_seed(7);
  for (const auto& [name, fn] : activations()) {
    INFO(name);
    auto f = [fn = fn](const std::vector<Tensor>& in) { return fn(in[0]); };
    Tensor x = moelab::testing::strided_leaf64({4, 6});
    CHECK(moelab::testing::gradcheck1(f, {x}));
    CHECK(moelab::testing::gradgradcheck1(f, {x}));
  }
  auto f = [](const std::vector<Tensor>& in) { return prelu(in[0], in[1]); };
  CHECK(moelab::testing::gradcheck1(f, {moelab::testing::leaf64({2, 3, 4}), moelab::testing::leaf64({3})}));
  CHECK(moelab::testing::gradcheck1(f, {moelab::testing::leaf64({2, 3}), moelab::testing::leaf64({1})}));
  CHECK(moelab::testing::gradgradcheck1(f, {moelab::testing::leaf64({2, 3, 2}), moelab::testing::leaf64({3})}));
}

TEST_CASE("nn layers: activations stay finite far from zero and keep the input dtype") {
  Tensor big = tensor({-800.0, -50.0, 0.0, 50.0, 800.0});
  big.requires_grad_();
  for (const auto& [name, fn] : activations()) {
    if (name.starts_with("glu") || name == "softmin") continue;
    INFO(name);
    Tensor y = fn(big);
    CHECK(y.dtype() == kF64);
    CHECK(all(isfinite(y)).item<bool>());
    auto grads = autograd::grad({y.sum()}, {big});
    CHECK(all(isfinite(grads[0])).item<bool>());
  }
  check_close(logsigmoid(big).detach(), tensor({-800.0, -50.0, -std::log(2.0), -1.9287498479639178e-22, 0.0}),
              1e-12, 0);
  CHECK(leaky_relu(randn({3}, kF32)).dtype() == kF32);
}

TEST_CASE("nn layers: functional activations reject bad arguments") {
  Tensor x = randn({2, 3});
  CHECK_MOELAB_ERROR(leaky_relu(zeros({2}, kI64)), "leaky_relu");
  CHECK_MOELAB_ERROR(celu(x, 0.0), "celu: alpha must be non-zero");
  CHECK_MOELAB_ERROR(softshrink(x, -1.0), "softshrink: lambd must be >= 0");
  CHECK_MOELAB_ERROR(glu(x, 1), "glu: dimension 1 of input [2, 3] must have an even size, got 3");
  CHECK_MOELAB_ERROR(glu(x, 2), "glu: dim 2 is out of range");
  CHECK_MOELAB_ERROR(glu(zeros({}), 0), "glu: a 0-d input cannot be halved");
  CHECK_MOELAB_ERROR(prelu(x, zeros({2})), "prelu: weight of shape [2] must hold 1 value or one per channel (3)");
  CHECK_MOELAB_ERROR(hardtanh(Tensor()), "hardtanh");
}

TEST_CASE("nn layers: activation modules forward to their functionals") {
  Tensor x = randn({3, 4}, kF64);
  check_close(nn::ReLU()(x), relu(x));
  check_close(nn::ReLU6()(x * 4.0), relu6(x * 4.0));
  check_close(nn::GELU("tanh")(x), gelu(x, "tanh"));
  check_close(nn::SiLU()(x), silu(x));
  check_close(nn::Tanh()(x), tanh(x));
  check_close(nn::Sigmoid()(x), sigmoid(x));
  check_close(nn::LeakyReLU(0.3)(x), leaky_relu(x, 0.3));
  check_close(nn::ELU(0.5)(x), elu(x, 0.5));
  check_close(nn::SELU()(x), selu(x));
  check_close(nn::CELU(2.0)(x), celu(x, 2.0));
  check_close(nn::Softplus(2.0, 5.0)(x), softplus(x, 2.0, 5.0));
  check_close(nn::Hardtanh(-0.5, 0.5)(x), hardtanh(x, -0.5, 0.5));
  check_close(nn::Hardsigmoid()(x), hardsigmoid(x));
  check_close(nn::Hardswish()(x), hardswish(x));
  check_close(nn::Mish()(x), mish(x));
  check_close(nn::LogSigmoid()(x), logsigmoid(x));
  check_close(nn::Softsign()(x), softsign(x));
  check_close(nn::Tanhshrink()(x), tanhshrink(x));
  check_close(nn::Softshrink(0.2)(x), softshrink(x, 0.2));
  check_close(nn::Hardshrink(0.2)(x), hardshrink(x, 0.2));
  check_close(nn::Threshold(0.1, 5.0)(x), threshold(x, 0.1, 5.0));
  check_close(nn::Softmax(1)(x), softmax(x, 1));
  check_close(nn::LogSoftmax(0)(x), log_softmax(x, 0));
  check_close(nn::Softmin(1)(x), softmin(x, 1));
  check_close(nn::GLU()(x), glu(x, -1));
  CHECK(nn::Identity()(x).is_same(x));
  CHECK(nn::GLU(1)(x).shape() == Shape{3, 2});
  nn::PReLU p(4, 0.1, kF64);
  CHECK(p.weight().shape() == Shape{4});
  check_close(p.weight(), full({4}, 0.1, kF64));
  check_close(p(x), prelu(x, p.weight()));
  CHECK(p.named_parameters()[0].first == "weight");
  CHECK(nn::PReLU().weight().shape() == Shape{1});
  CHECK(nn::ReLU().parameters().empty());
  CHECK(nn::LeakyReLU().type_name() == "LeakyReLU");
  CHECK_MOELAB_ERROR(nn::GELU("fast"), "GELU: approximate must be \"none\" or \"tanh\"");
  CHECK_MOELAB_ERROR(nn::Hardtanh(1.0, -1.0), "Hardtanh: max_val (-1) must be greater than min_val (1)");
  CHECK_MOELAB_ERROR(nn::CELU(0.0), "CELU: alpha must be non-zero");
  CHECK_MOELAB_ERROR(nn::Softplus(0.0), "Softplus: beta must be non-zero");
  CHECK_MOELAB_ERROR(nn::Softshrink(-0.1), "Softshrink: lambd must be >= 0");
  CHECK_MOELAB_ERROR(nn::PReLU(0), "PReLU: num_parameters must be positive");
  CHECK_MOELAB_ERROR(nn::PReLU(3, 0.25, kF64)(x), "prelu: weight of shape [3]");
}
