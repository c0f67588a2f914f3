// DenseToSparseGate: temperature and activation gates (dense and top-k) with gradients w.r.t. W, b
// and tau vs the reference in tests/golden/gen_moe_routers_b.py, scheduling, threshold, gradcheck,
// errors.
#include <cmath>
#include <string>

#include "autograd/grad_test_util.h"
#include "moe/router_test_util.h"
#include "support/check.h"
#include "support/golden.h"

using namespace moelab;
using moelab::testing::router_options;
using moelab::testing::set_tensor;
using moelab::testing::check_close;
using moelab::testing::check_equal;
using moelab::testing::Golden;
using moe::AnnealSchedule;
using moe::DenseToSparseGate;
using moe::DenseToSparseOptions;
using moe::GateActivation;
using moe::RouterOptions;

namespace {
DenseToSparseOptions dso(GateActivation act, bool learnable, bool renorm = false, double threshold = 0.0) {
  DenseToSparseOptions o;
  o.activation = act;
  o.learnable_temperature = learnable;
  o.renormalize = renorm;
  o.threshold = threshold;
  return o;
}

}  // namespace

TEST_CASE("moe router dense-to-sparse: temperature and activation gates match the reference, with gradients") {
  const Golden& g = Golden::get("moe_routers_b");
  const std::pair<std::string, GateActivation> acts[] = {
      {"none", GateActivation::kNone}, {"tanh", GateActivation::kTanh}, {"sigmoid", GateActivation::kSigmoid}};
  for (const auto& [aname, act] : acts) {
    for (int64_t k : {8, 3}) {
      for (DType dt : {kF64, kF32}) {
        const std::string p = "dts." + aname + ".k" + std::to_string(k);
        INFO(p << " in " << dt);
        DenseToSparseGate r(router_options(6, 8, k, dt), dso(act, /*learnable=*/true, /*renorm=*/k < 8));
        set_tensor(r, "weight", g[p + ".W"]);
        set_tensor(r, "bias", g[p + ".bias"]);
        set_tensor(r, "temperature", g[p + ".tau"]);
        auto d = r(g[p + ".x"].to(dt));
        check_equal(d.expert_ids, g[p + ".ids"]);
        const double tol = dt == kF64 ? 1e-12 : 2e-5;
        check_close(d.weights, g[p + ".weights"].to(dt), tol, tol);
        auto grads = autograd::grad({sum(mul(d.weights, g[p + ".gout"].to(dt)))},
                                    {r.tensor_slot("weight"), r.tensor_slot("bias"), r.tensor_slot("temperature")});
        check_close(grads[0], g[p + ".dW"].to(dt), tol, tol);
        check_close(grads[1], g[p + ".dbias"].to(dt), tol, tol);
        check_close(grads[2], g[p + ".dtau"].to(dt), tol, tol);
      }
    }
  }
}

TEST_CASE("moe router dense-to-sparse: scheduled temperature and anneal") {
  CHECK(moe::anneal_temperature(2.0, 0.5, 0, 10, AnnealSchedule::kLinear) == doctest::Approx(2.0));
  CHECK(moe::anneal_temperature(2.0, 0.5, 5, 10, AnnealSchedule::kLinear) == doctest::Approx(1.25));
  CHECK(moe::anneal_temperature(2.0, 0.5, 20, 10, AnnealSchedule::kLinear) == doctest::Approx(0.5));
  CHECK(moe::anneal_temperature(2.0, 0.5, 5, 10) == doctest::Approx(1.0));
  CHECK(moe::anneal_temperature(2.0, 0.5, 10, 10) == doctest::Approx(0.5));
  DenseToSparseGate r(router_options(4, 5, 5), dso(GateActivation::kNone, /*learnable=*/false));
  CHECK(r.temperature() == 1.0);
  Tensor x = randn({6, 4});
  Tensor z = linear(x, r.weight(), r.tensor_slot("bias"));
  r.set_temperature(0.25);
  CHECK(r.temperature() == 0.25);
  auto d = r(x);
  check_close(d.probs, softmax(z / 0.25, 1), 1e-6, 1e-7);
  CHECK(r.anneal(1.0, 0.1, 3, 3) == doctest::Approx(0.1));
  // A low temperature makes the dense gate nearly one-hot.
  auto cold = r(x);
  CHECK(amin(cold.weights.select(1, 0)).item<float>() > amin(d.weights.select(1, 0)).item<float>());
  // The dense gate keeps every expert, slots in probability order.
  check_equal(std::get<0>(sort(d.expert_ids, 1)), arange(0, 5, 1, kI64).view({1, 5}).expand({6, 5}).contiguous());
}

TEST_CASE("moe router dense-to-sparse: threshold drops small weights through kept") {
  DenseToSparseGate r(router_options(4, 6, 6), dso(GateActivation::kTanh, false, /*renorm=*/true, /*threshold=*/0.2));
  r.set_temperature(0.3);
  Tensor x = randn({8, 4});
  auto d = r(x);
  Tensor p = std::get<0>(topk(d.probs, 6, 1));
  Tensor keep = ge(p, scalar_tensor(0.2, kF32));
  keep.select(1, 0).fill_(true);
  check_equal(d.kept, keep);
  Tensor expect = mul(p, keep.to(kF32));
  check_close(d.weights, div(expect, sum(expect, {1}, true)), 1e-6, 1e-7);
  CHECK(equal(mul(d.weights, logical_not(d.kept).to(kF32)), zeros({8, 6})));
  // A threshold above every probability still keeps the top expert, with weight 1.
  DenseToSparseGate high(router_options(4, 6, 6), dso(GateActivation::kNone, false, true, 0.99));
  auto dh = high(x);
  check_equal(sum(dh.kept.to(kI64), {1}), ones({8}, kI64));
  check_close(dh.weights.select(1, 0), ones({8}));
}

TEST_CASE("moe router dense-to-sparse: gradcheck w.r.t. W, b, tau and tokens") {
  auto o = router_options(5, 6, 3, kF64);
  o.load_balance_coef = 0.1;
  o.z_loss_coef = 0.01;
  for (GateActivation act : {GateActivation::kNone, GateActivation::kTanh, GateActivation::kSigmoid}) {
    DenseToSparseGate r(o, dso(act, /*learnable=*/true, /*renorm=*/true));
    Tensor w = r.weight().detach().clone().requires_grad_();
    Tensor b = r.tensor_slot("bias").detach().clone().requires_grad_();
    Tensor tau = full({}, 0.6, kF64).requires_grad_();
    Tensor xs = testing::strided_leaf64({7, 5});
    CHECK(testing::gradcheck1([&](const std::vector<Tensor>& in) {
      return nn::functional_call(r, {{"weight", in[0]}, {"bias", in[1]}, {"temperature", in[2]}}, [&] {
        auto d = r(in[3]);
        return add(sum(mul(d.weights, d.weights)), d.aux_loss);
      });
    }, {w, b, tau, xs}));
  }
}

TEST_CASE("moe router dense-to-sparse: learnable tau, non-contiguous tokens, no bias, empty batch") {
  DenseToSparseGate r(router_options(4, 5, 2), dso(GateActivation::kSigmoid, /*learnable=*/true));
  CHECK(r.tensor_slot("temperature").requires_grad());
  r.set_temperature(0.5);
  CHECK(r.temperature() == 0.5);
  CHECK(r.tensor_slot("temperature").requires_grad());
  Tensor xt = randn({4, 6}).t();
  auto d = r(xt);
  check_equal(r(xt.contiguous()).weights, d.weights);
  check_equal(r(xt).expert_ids, d.expert_ids);
  DenseToSparseOptions nb;
  nb.bias = false;
  DenseToSparseGate n(router_options(4, 5, 2), nb);
  CHECK_FALSE(n.tensor_slot("bias").defined());
  check_close(n(xt).logits, linear(xt, n.weight()), 1e-6, 1e-7);
  CHECK(r(zeros({0, 4})).weights.shape() == Shape{0, 2});
  // Ties (a uniform gate) go to the lowest expert indices.
  DenseToSparseGate u(router_options(4, 5, 3), dso(GateActivation::kTanh, false, /*renorm=*/true));
  set_tensor(u, "weight", zeros({5, 4}));
  set_tensor(u, "bias", zeros({5}));
  auto du = u(xt);
  check_equal(du.expert_ids, from_vector(std::vector<int64_t>{0, 1, 2}, {1, 3}).expand({6, 3}).contiguous());
  check_close(du.weights, full({6, 3}, 1.0f / 3.0f), 1e-6, 1e-7);
}

TEST_CASE("moe router dense-to-sparse: bad options and inputs are errors") {
  DenseToSparseOptions o;
  o.temperature = 0;
  CHECK_MOELAB_ERROR(DenseToSparseGate(router_options(4, 3, 3), o), "temperature");
  o = {};
  o.threshold = 1.0;
  CHECK_MOELAB_ERROR(DenseToSparseGate(router_options(4, 3, 3), o), "threshold");
  DenseToSparseGate r(router_options(4, 3, 3));
  CHECK_MOELAB_ERROR(r.set_temperature(-1), "tau must be positive");
  CHECK_MOELAB_ERROR(moe::anneal_temperature(1, 0, 1, 10), "tau_min");
  CHECK_MOELAB_ERROR(moe::anneal_temperature(1, 0.1, 1, 0), "total_steps");
  CHECK_MOELAB_ERROR(moe::anneal_temperature(1, 0.1, -1, 10), "step");
  CHECK_MOELAB_ERROR(r(randn({2, 5})), "d_model = 4");
  DenseToSparseGate l(router_options(4, 3, 3), dso(GateActivation::kNone, true));
  set_tensor(l, "temperature", full({}, -0.5));
  CHECK_MOELAB_ERROR(l(randn({2, 4})), "temperature must stay positive");
}
