// functional_call / ParameterSwap: running a module with substituted weights (MAML-style inner
// steps), restoring the module afterwards.
#include <stdexcept>

#include "support/check.h"

using namespace moelab;
using moelab::testing::check_close;

namespace {
class Mlp : public nn::UnaryModule {
 public:
  Mlp() : UnaryModule("Mlp") {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(3, 4, true, kF64));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(4, 1, true, kF64));
  }
  Tensor forward(const Tensor& x) override { return fc2->forward(tanh(fc1->forward(x))); }
  std::shared_ptr<nn::Linear> fc1, fc2;
};
}  // namespace

TEST_CASE("nn functional_call: substituted weights are used and the module is restored") {
  manual_seed(1);
  Mlp net;
  Tensor x = randn({5, 3}, kF64);
  Tensor before = net(x).detach();
  std::map<std::string, Tensor> zeroed{{"fc2.weight", zeros({1, 4}, kF64)}, {"fc2.bias", full({1}, 2.5, kF64)}};
  Tensor y = nn::functional_call(net, zeroed, x);
  check_close(y, full({5, 1}, 2.5, kF64));
  // Restored: same output as before, and the module's own tensors are the originals.
  check_close(net(x), before);
  CHECK(net.fc2->weight().requires_grad());
  CHECK(net.fc2->weight().is_leaf());
}

TEST_CASE("nn functional_call: MAML inner step with create_graph gives the second-order meta-gradient") {
  manual_seed(2);
  Mlp net;
  Tensor x = randn({6, 3}, kF64), y = randn({6, 1}, kF64);
  Tensor xq = randn({4, 3}, kF64), yq = randn({4, 1}, kF64);
  const double inner_lr = 0.1;
  auto named = net.named_parameters();
  std::vector<Tensor> params;
  for (auto& kv : named) params.push_back(kv.second);

  // meta_loss(theta) = L_query(theta - lr * grad L_support(theta)), built with create_graph.
  auto meta_loss = [&](const std::vector<Tensor>& theta) {
    std::map<std::string, Tensor> slow;
    for (size_t i = 0; i < named.size(); ++i) slow[named[i].first] = theta[i];
    Tensor inner = nn::functional_call(net, slow, [&] { return mse_loss(net(x), y); });
    auto grads = autograd::grad({inner}, theta, {}, /*retain_graph=*/true, /*create_graph=*/true);
    std::map<std::string, Tensor> fast;
    for (size_t i = 0; i < named.size(); ++i) fast[named[i].first] = theta[i] - inner_lr * grads[i];
    return nn::functional_call(net, fast, [&] { return mse_loss(net(xq), yq); });
  };
  Tensor loss = meta_loss(params);
  auto meta_grads = autograd::grad({loss}, params);

  // Finite differences of the whole meta-objective in every coordinate of fc1.weight.
  Tensor w = params[0];
  const double eps = 1e-6;
  for (int64_t i = 0; i < w.numel(); ++i) {
    auto shifted = [&](double d) {
      std::vector<Tensor> theta;
      for (auto& p : params) theta.push_back(p.detach().clone().requires_grad_(true));
      {
        autograd::NoGradGuard ng;
        Tensor entry = theta[0].view({-1}).index({i});
        add_(entry, scalar_tensor(d, kF64));
      }
      return meta_loss(theta).item<double>();
    };
    double numeric = (shifted(eps) - shifted(-eps)) / (2 * eps);
    CHECK(meta_grads[0].reshape({-1}).index({i}).item<double>() == doctest::Approx(numeric).epsilon(1e-5));
  }
}

TEST_CASE("nn functional_call: unknown names are an Error and nothing is swapped; exceptions restore") {
  Mlp net;
  Tensor w = net.fc1->weight();
  CHECK_MOELAB_ERROR(nn::functional_call(net, {{"fc1.weight", zeros({4, 3}, kF64)}, {"fc3.bias", zeros({1}, kF64)}},
                                         randn({2, 3}, kF64)),
                     "no parameter or buffer named \"fc3.bias\"");
  CHECK(net.fc1->weight().is_same(w));
  CHECK_MOELAB_ERROR(nn::functional_call(net, {{"fc1.nope", zeros({4, 3}, kF64)}}, randn({2, 3}, kF64)),
                     "fc1.nope");
  CHECK_THROWS_AS(nn::functional_call(net, {{"fc1.weight", zeros({4, 3}, kF64)}},
                                      [&]() -> Tensor { throw std::runtime_error("inner"); }),
                  std::runtime_error);
  CHECK(net.fc1->weight().is_same(w));
}

TEST_CASE("nn dropout: zeroes with probability p, scales the rest, identity in eval, seeded") {
  manual_seed(7);
  Tensor x = ones({20000}, kF32);
  Tensor y = dropout(x, 0.3);
  double kept = (y != 0.0f).to(kF64).mean().item<double>();
  CHECK(kept == doctest::Approx(0.7).epsilon(0.03));
  check_close(y.max(), scalar_tensor(1.0 / 0.7, kF32).reshape({}));
  manual_seed(7);
  CHECK(equal(dropout(x, 0.3), y));
  CHECK(dropout(x, 0.3, /*training=*/false).is_same(x));
  CHECK(equal(dropout(x, 1.0), zeros({20000})));

  nn::Dropout d(0.5);
  d.eval();
  CHECK(d(x).is_same(x));
  d.train();
  Tensor a = randn({8, 5}, kF64).requires_grad_(true);
  Tensor out = d(a);
  out.sum().backward();
  // The gradient is the mask: 0 where dropped, 2 where kept.
  check_close(a.grad(), (out.detach() != 0.0).to(kF64) * 2.0);
  CHECK_MOELAB_ERROR(dropout(x, 1.5), "dropout: p must be in [0, 1]");
  CHECK_MOELAB_ERROR(nn::Dropout(-0.1), "Dropout: p must be in [0, 1]");
  CHECK_MOELAB_ERROR(dropout(ones({3}, kI64), 0.5), "dropout");
}

TEST_CASE("nn layer_norm module: affine parameters start at 1 and 0 and match the functional form") {
  nn::LayerNorm ln({4}, 1e-5, true, kF64);
  CHECK(ln.named_parameters().size() == 2);
  check_close(ln.weight(), ones({4}, kF64));
  check_close(ln.bias(), zeros({4}, kF64));
  Tensor x = randn({3, 4}, kF64);
  check_close(ln(x), layer_norm(x, {4}));
  nn::LayerNorm plain({4}, 1e-5, false);
  CHECK(plain.named_parameters().empty());
  CHECK_MOELAB_ERROR(ln(randn({3, 5}, kF64)), "layer_norm");
}
