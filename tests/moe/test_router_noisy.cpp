// NoisyTopKRouter (Shazeer 2017): golden vs FastMoE NoisyGate with given noise, gradcheck, eval, errors.
#include "autograd/grad_test_util.h"
#include "moe/router_test_util.h"
#include "support/check.h"

using namespace moelab;
using moelab::testing::router_options;
using moelab::testing::set_tensor;
using moelab::testing::check_close;
using moelab::testing::check_equal;
using moelab::testing::Golden;
using moe::NoisyTopKOptions;
using moe::NoisyTopKRouter;
using moe::RouterOptions;

namespace {
const Golden& golden() { return Golden::get("moe_routers_a"); }

void load_weights(NoisyTopKRouter& r, const Tensor& wg, const Tensor& wn) {
  NoGradGuard ng;
  r.tensor_slot("w_gate").copy_(wg);
  r.tensor_slot("w_noise").copy_(wn);
}

// The gradient of out w.r.t. input, or zeros when out does not depend on it (a constant load).
Tensor grad_or_zeros(const Tensor& out, const Tensor& input) {
  if (!out.requires_grad()) return zeros_like(input);
  Tensor g = autograd::grad({out}, {input}, {}, true, false, /*allow_unused=*/true)[0];
  return g.defined() ? g : zeros_like(input);
}
}  // namespace

TEST_CASE("moe noisy router: golden ids, weights, importance and load vs FastMoE NoisyGate") {
  const Golden& g = golden();
  const char* cases[] = {"noisy.E6.k2.train", "noisy.E4.k1.train", "noisy.E4.k4.train", "noisy.E6.k2.eval",
                         "noisy.E8.k3.train"};
  for (const std::string name : cases) {
    for (DType dt : {kF64, kF32}) {
      INFO(name << " in " << dt);
      Tensor x = g[name + ".x"].to(dt), wg = g[name + ".w_gate"], wn = g[name + ".w_noise"], eps = g[name + ".eps"];
      const int64_t E = wg.size(1), k = g[name + ".ids"].size(1);
      NoisyTopKRouter r(router_options(x.size(1), E, k, dt));
      load_weights(r, wg.to(dt), wn.to(dt));
      const bool train = name.find("train") != std::string::npos;
      if (!train) r.eval();
      auto d = train ? r.route_with_noise(x, eps.to(dt)) : r(x);
      const double tol = dt == kF64 ? 1e-10 : 1e-4;
      check_equal(d.expert_ids, g[name + ".ids"]);
      check_close(d.weights, g[name + ".weights"].to(dt), tol, tol);
      check_close(d.logits, g[name + ".logits"].to(dt), tol, tol);
      check_close(d.losses.at("importance"), g[name + ".importance"].to(dt), tol, tol);
      check_close(d.losses.at("load"), g[name + ".load"].to(dt), tol, tol);
      double expect = 1e-2 * (g[name + ".importance"].item<double>() + g[name + ".load"].item<double>());
      CHECK(d.aux_loss.item<double>() == doctest::Approx(expect).epsilon(dt == kF64 ? 1e-12 : 1e-5));
      CHECK(d.kept.dtype() == kBool);
      CHECK(sum(d.kept.to(kI64)).item<int64_t>() == x.size(0) * k);
      check_close(d.probs, softmax(d.logits, 1), tol, tol);
    }
  }
}

TEST_CASE("moe noisy router: golden gradients w.r.t. w_gate, w_noise and x") {
  const Golden& g = golden();
  const char* cases[] = {"noisy.E6.k2.train", "noisy.E4.k1.train", "noisy.E4.k4.train", "noisy.E6.k2.eval",
                         "noisy.E8.k3.train"};
  for (const std::string name : cases) {
    for (DType dt : {kF64, kF32}) {
      INFO(name << " in " << dt);
      Tensor wg = g[name + ".w_gate"];
      const int64_t E = wg.size(1), k = g[name + ".ids"].size(1);
      NoisyTopKRouter r(router_options(wg.size(0), E, k, dt));
      load_weights(r, wg.to(dt), g[name + ".w_noise"].to(dt));
      const bool train = name.find("train") != std::string::npos;
      if (!train) r.eval();
      Tensor x = g[name + ".x"].to(dt).clone().requires_grad_();
      auto d = train ? r.route_with_noise(x, g[name + ".eps"].to(dt)) : r(x);
      const std::map<std::string, Tensor> outs = {{"gates", sum(d.weights * g[name + ".gout"].to(dt))},
                                                  {"importance", d.losses.at("importance")},
                                                  {"load", d.losses.at("load")}};
      const double rtol = dt == kF64 ? 1e-9 : 2e-3, atol = dt == kF64 ? 1e-11 : 1e-4;
      for (const auto& [what, out] : outs) {
        INFO("gradient of " << what);
        check_close(grad_or_zeros(out, r.w_gate()), g[name + ".dw_gate." + what].to(dt), rtol, atol);
        check_close(grad_or_zeros(out, r.w_noise()), g[name + ".dw_noise." + what].to(dt), rtol, atol);
        check_close(grad_or_zeros(out, x), g[name + ".dx." + what].to(dt), rtol, atol);
      }
    }
  }
}

TEST_CASE("moe noisy router: f64 gradcheck of weights and losses w.r.t. w_gate, w_noise and x") {
  for (int64_t k : {1, 2}) {
    INFO("k = " << k);
    NoisyTopKRouter r(router_options(4, 5, k, kF64));
    Tensor wg = (randn({4, 5}, kF64) * 0.8).requires_grad_();
    Tensor wn = (randn({4, 5}, kF64) * 0.5).requires_grad_();
    Tensor eps = randn({6, 5}, kF64);
    Tensor gout = randn({6, k}, kF64);
    Tensor x = testing::strided_leaf64({6, 4});  // non-contiguous
    CHECK(testing::gradcheck1([&](const std::vector<Tensor>& in) {
      return nn::functional_call(r, {{"w_gate", in[0]}, {"w_noise", in[1]}}, [&] {
        auto d = r.route_with_noise(in[2], eps);
        return sum(d.weights * gout) + d.losses.at("importance") + d.losses.at("load") * 0.5;
      });
    }, {wg, wn, x}));
  }
}

TEST_CASE("moe noisy router: non-contiguous tokens route as their contiguous copy") {
  NoisyTopKRouter r(router_options(4, 6, 2));
  load_weights(r, randn({4, 6}), randn({4, 6}));
  Tensor xt = randn({4, 7}).t();  // [7, 4], transposed view
  Tensor eps = randn({6, 7}).t();
  auto a = r.route_with_noise(xt, eps), b = r.route_with_noise(xt.contiguous(), eps.contiguous());
  check_equal(a.expert_ids, b.expert_ids);
  check_close(a.weights, b.weights, 1e-6);
  check_close(a.aux_loss, b.aux_loss, 1e-6);
}

TEST_CASE("moe noisy router: zero init, noise only in training and reproducible by seed") {
  NoisyTopKRouter r(router_options(3, 4, 2));
  check_equal(r.w_gate(), zeros({3, 4}));
  check_equal(r.w_noise(), zeros({3, 4}));
  CHECK(r.w_gate().requires_grad());
  load_weights(r, randn({3, 4}), randn({3, 4}));
  Tensor x = randn({10, 3});
  r.eval();
  auto e1 = r(x), e2 = r(x);
  check_equal(e1.logits, matmul(x, r.w_gate()));
  check_equal(e1.expert_ids, e2.expert_ids);
  check_equal(e1.weights, e2.weights);
  r.train();
  r.manual_seed(5);
  auto t1 = r(x);
  r.manual_seed(5);
  auto t2 = r(x);
  check_equal(t1.logits, t2.logits);
  CHECK_FALSE(allclose(t1.logits, e1.logits));
  // noisy = false: no w_noise parameter, no noise even in training.
  NoisyTopKOptions plain;
  plain.noisy = false;
  NoisyTopKRouter q(router_options(3, 4, 2), plain);
  CHECK(q.named_parameters().size() == 1);
  {
    NoGradGuard ng;
    q.tensor_slot("w_gate").copy_(r.w_gate());
  }
  check_equal(q(x).logits, e1.logits);
}

TEST_CASE("moe noisy router: jitter, standard losses and the loss coefficient") {
  auto o = router_options(3, 4, 2);
  o.jitter_eps = 0.3;
  o.z_loss_coef = 1e-3;
  NoisyTopKOptions no;
  no.loss_coef = 0.5;
  NoisyTopKRouter r(o, no);
  load_weights(r, randn({3, 4}), randn({3, 4}));
  Tensor x = randn({8, 3}), eps = randn({8, 4});
  r.manual_seed(1);
  auto a = r.route_with_noise(x, eps);
  r.eval();
  auto c = r.route_with_noise(x, eps);  // no jitter in eval, the given noise still applies
  CHECK_FALSE(allclose(a.logits, c.logits));
  r.train();
  r.manual_seed(1);
  check_equal(r.route_with_noise(x, eps).logits, a.logits);
  REQUIRE(a.losses.count("z_loss") == 1);
  double expect = 0.5 * (a.losses.at("importance").item<float>() + a.losses.at("load").item<float>()) +
                  1e-3 * a.losses.at("z_loss").item<float>();
  CHECK(a.aux_loss.item<float>() == doctest::Approx(expect).epsilon(1e-5));
}

TEST_CASE("moe noisy router: empty batch") {
  NoisyTopKRouter r(router_options(3, 4, 2));
  auto d = r.route_with_noise(zeros({0, 3}), zeros({0, 4}));
  CHECK(d.expert_ids.shape() == Shape{0, 2});
  CHECK(d.aux_loss.item<float>() == 0.0f);
}

TEST_CASE("moe noisy router: bad options, shapes and noise are errors") {
  NoisyTopKOptions bad;
  bad.loss_coef = -1;
  CHECK_MOELAB_ERROR(NoisyTopKRouter(router_options(3, 4, 2), bad), "loss_coef");
  bad = {};
  bad.noise_epsilon = 0;
  CHECK_MOELAB_ERROR(NoisyTopKRouter(router_options(3, 4, 2), bad), "noise_epsilon");
  CHECK_MOELAB_ERROR(NoisyTopKRouter(router_options(3, 4, 5)), "top_k");
  NoisyTopKRouter r(router_options(3, 4, 2));
  CHECK_MOELAB_ERROR(r(randn({5, 2})), "d_model = 3");
  CHECK_MOELAB_ERROR(r.route_with_noise(randn({5, 2}), randn({5, 4})), "d_model = 3");
  CHECK_MOELAB_ERROR(r.route_with_noise(randn({5, 3}), randn({5, 3})), "[T, E] = [5, 4]");
  CHECK_MOELAB_ERROR(r.route_with_noise(randn({5, 3}), ones({5, 4}, kI64)), "floating");
  CHECK_MOELAB_ERROR(r.route_with_noise(ones({5, 3}, kI64), randn({5, 4})), "floating");
}
