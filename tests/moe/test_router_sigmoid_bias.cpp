// SigmoidBiasRouter (DeepSeek-V3): group-limited routing and the bias update against the reference in
// tests/golden/gen_moe_routers_b.py, gradcheck, ties, counting rules, errors.
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
using moe::RouterOptions;
using moe::SigmoidBiasOptions;
using moe::SigmoidBiasRouter;

namespace {
const Golden& golden() { return Golden::get("moe_routers_b"); }

SigmoidBiasOptions sbo(int64_t ng, int64_t tg, double scale = 1.0, bool norm = true) {
  SigmoidBiasOptions s;
  s.n_group = ng;
  s.topk_group = tg;
  s.routed_scaling_factor = scale;
  s.norm_topk_prob = norm;
  return s;
}

}  // namespace

TEST_CASE("moe router sigmoid-bias: group-limited routing matches DeepSeek-V3's gate, with gradients") {
  const Golden& g = golden();
  struct Case {
    std::string name;
    int64_t k, ng, tg;
    double scale;
  };
  for (const Case& c : {Case{"g1", 2, 1, 1, 1.0}, Case{"g4", 3, 4, 2, 2.5}}) {
    for (DType dt : {kF64, kF32}) {
      INFO(c.name << " in " << dt);
      const std::string p = "ds." + c.name;
      SigmoidBiasRouter r(router_options(6, 8, c.k, dt), sbo(c.ng, c.tg, c.scale));
      set_tensor(r, "weight", g[p + ".W"]);
      set_tensor(r, "e_score_correction_bias", g[p + ".b"]);
      auto d = r(g[p + ".x"].to(dt));
      check_equal(d.expert_ids, g[p + ".ids"]);
      const double tol = dt == kF64 ? 1e-12 : 1e-5;
      check_close(d.weights, g[p + ".weights"].to(dt), tol, tol);
      CHECK(d.kept.dtype() == kBool);
      CHECK(all(d.kept).item<bool>());
      Tensor dW = autograd::grad({sum(mul(d.weights, g[p + ".gout"].to(dt)))}, {r.tensor_slot("weight")})[0];
      check_close(dW, g[p + ".dW"].to(dt), tol, tol);
      // probs: s normalised per token.
      check_close(sum(d.probs, {1}), ones({d.probs.size(0)}, dt), tol, tol);
    }
  }
}

TEST_CASE("moe router sigmoid-bias: the bias update sequence matches the reference") {
  const Golden& g = golden();
  for (DType dt : {kF64, kF32}) {
    INFO(dt);
    SigmoidBiasRouter r(router_options(6, 8, 2, dt), sbo(4, 2));
    set_tensor(r, "weight", g["ds.upd.W"]);
    r.train();
    for (int s = 0; s < 4; ++s) {
      INFO("step " << s);
      const std::string i = std::to_string(s);
      auto d = r(g["ds.upd.x" + i].to(dt));
      check_equal(d.expert_ids, g["ds.upd.ids" + i]);
      CHECK(sum(r.expert_counts()).item<double>() == 20.0);
      r.update_bias(0.05);
      check_close(r.e_score_correction_bias(), g["ds.upd.b" + i].to(dt), 1e-12, 1e-7);
      CHECK(sum(r.expert_counts()).item<double>() == 0.0);
    }
    CHECK_FALSE(r.e_score_correction_bias().requires_grad());
  }
}

TEST_CASE("moe router sigmoid-bias: counts only training passes with grad mode on") {
  SigmoidBiasRouter r(router_options(4, 4, 2), sbo(1, 1));
  Tensor x = randn({5, 4});
  r.eval();
  r(x);
  CHECK(sum(r.expert_counts()).item<double>() == 0.0);
  r.train();
  {
    NoGradGuard ng;
    r(x);
  }
  CHECK(sum(r.expert_counts()).item<double>() == 0.0);
  auto d = r(x);
  CHECK(sum(r.expert_counts()).item<double>() == 10.0);
  check_equal(r.expert_counts(), bincount(d.expert_ids.reshape({-1}), Tensor(), 4).to(kF64));
  // Balanced counts leave the bias unchanged (sign(0) = 0).
  SigmoidBiasRouter b(router_options(4, 4, 4), sbo(1, 1));
  b(x);
  b.update_bias();
  check_equal(b.e_score_correction_bias(), zeros({4}));
  // The bias steers selection but not the weights.
  set_tensor(b, "e_score_correction_bias", tensor({0.0f, 0.0f, 0.0f, 10.0f}));
  SigmoidBiasRouter one(router_options(4, 4, 1), sbo(1, 1));
  one.load_state_dict(b.state_dict());
  auto d1 = one(x);
  check_equal(d1.expert_ids, full({5, 1}, int64_t{3}, kI64));
  check_close(d1.weights, sigmoid(linear(x, one.weight())).slice(1, 3, 4), 1e-6, 1e-7);
}

TEST_CASE("moe router sigmoid-bias: gradcheck of weights and aux losses in f64") {
  auto o = router_options(5, 8, 3, kF64);
  o.load_balance_coef = 0.1;
  o.z_loss_coef = 0.01;
  for (bool norm : {true, false}) {
    SigmoidBiasRouter r(o, sbo(4, 2, 1.5, norm));
    set_tensor(r, "e_score_correction_bias", randn({8}, kF64) * 0.1);
    Tensor w = r.weight().detach().clone().requires_grad_();
    Tensor xs = testing::strided_leaf64({6, 5});
    CHECK(testing::gradcheck1([&](const std::vector<Tensor>& in) {
      return nn::functional_call(r, {{"weight", in[0]}}, [&] {
        auto d = r(in[1]);
        return add(sum(mul(d.weights, d.weights)), d.aux_loss);
      });
    }, {w, xs}));
  }
}

TEST_CASE("moe router sigmoid-bias: sequence-wise balance loss, non-contiguous input, determinism, k = 1") {
  auto o = router_options(4, 6, 2);
  o.load_balance_coef = 1.0;
  SigmoidBiasRouter r(o, sbo(3, 2));
  Tensor xt = randn({4, 7}).t();  // non-contiguous [7, 4]
  auto d = r(xt);
  auto dc = r(xt.contiguous());
  check_equal(d.expert_ids, dc.expert_ids);
  check_equal(d.weights, dc.weights);
  check_equal(r(xt).weights, d.weights);
  // DeepSeek-V3: alpha * sum_i f_i P_i with f_i = E / (k T) * count_i, P_i = mean_t s'_{i,t}.
  Tensor s = sigmoid(linear(xt, r.weight()));
  Tensor sp = div(s, sum(s, {1}, true));
  Tensor f = bincount(d.expert_ids.reshape({-1}), Tensor(), 6).to(kF32) * (6.0 / (2.0 * 7.0));
  CHECK(d.losses.at("load_balancing").item<float>() == doctest::Approx(sum(mul(f, mean(sp, {0}))).item<float>()));
  // k = 1: the weight is the sigmoid score itself (no normalisation), times the scale.
  SigmoidBiasRouter one(router_options(4, 6, 1), sbo(1, 1, 2.0));
  one.load_state_dict(r.state_dict());
  auto d1 = one(xt);
  check_close(d1.weights, gather(s, 1, d1.expert_ids) * 2.0, 1e-6, 1e-7);
  // Empty batch.
  auto de = r(zeros({0, 4}));
  CHECK(de.expert_ids.shape() == Shape{0, 2});
  CHECK(de.weights.shape() == Shape{0, 2});
}

TEST_CASE("moe router sigmoid-bias: ties go to the lowest expert and group") {
  SigmoidBiasRouter r(router_options(2, 8, 3), sbo(4, 2));
  set_tensor(r, "weight", zeros({8, 2}));
  auto d = r(ones({2, 2}));
  check_equal(d.expert_ids, from_vector(std::vector<int64_t>{0, 1, 2, 0, 1, 2}, {2, 3}));
  check_close(d.weights, full({2, 3}, 1.0f / 3.0f), 1e-6, 1e-7);
  // Groups 2 and 3 lead, so experts 4..7 are the only candidates.
  set_tensor(r, "e_score_correction_bias", tensor({0.0f, 0.0f, 0.0f, 0.0f, 0.1f, 0.1f, 0.2f, 0.0f}));
  check_equal(r(ones({1, 2})).expert_ids, from_vector(std::vector<int64_t>{6, 4, 5}, {1, 3}));
  // Masked groups are -inf (DeepSeek-V3's code): a negative biased score in the kept group still
  // beats every expert of a dropped group.
  SigmoidBiasRouter neg(router_options(2, 8, 2), sbo(4, 1));
  set_tensor(neg, "weight", zeros({8, 2}));
  set_tensor(neg, "e_score_correction_bias", tensor({1.0f, -0.9f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f}));
  check_equal(neg(ones({1, 2})).expert_ids, from_vector(std::vector<int64_t>{0, 1}, {1, 2}));
}

TEST_CASE("moe router sigmoid-bias: bad options and inputs are errors") {
  CHECK_MOELAB_ERROR(SigmoidBiasRouter(router_options(4, 6, 2), sbo(4, 1)), "must divide num_experts");
  CHECK_MOELAB_ERROR(SigmoidBiasRouter(router_options(4, 6, 2), sbo(0, 1)), "n_group");
  CHECK_MOELAB_ERROR(SigmoidBiasRouter(router_options(4, 6, 2), sbo(3, 4)), "topk_group");
  CHECK_MOELAB_ERROR(SigmoidBiasRouter(router_options(4, 6, 2), sbo(3, 0)), "topk_group");
  CHECK_MOELAB_ERROR(SigmoidBiasRouter(router_options(4, 6, 3), sbo(3, 1)), "top_k = 3");
  CHECK_MOELAB_ERROR(SigmoidBiasRouter(router_options(4, 6, 2), sbo(1, 1, 0.0)), "routed_scaling_factor");
  CHECK_MOELAB_ERROR(SigmoidBiasRouter(router_options(4, 6, 7)), "top_k");
  SigmoidBiasRouter r(router_options(4, 6, 2));
  CHECK_MOELAB_ERROR(r.update_bias(-1.0), "rate");
  CHECK_MOELAB_ERROR(r(randn({3, 5})), "d_model = 4");
  CHECK_MOELAB_ERROR(r(ones({3, 4}, kI64)), "floating");
}

TEST_CASE("moe router sigmoid-bias: the docs example runs and the bias moves against the load") {
  moe::RouterOptions o{.d_model = 16, .num_experts = 8, .top_k = 2};
  moe::SigmoidBiasRouter router(o, {.n_group = 4, .topk_group = 2, .routed_scaling_factor = 2.5});
  router.train();
  Tensor x = randn({32, 16});
  moe::RoutingDecision d = router(x);
  check_close(sum(d.weights, {1}), full({32}, 2.5f), 1e-5, 1e-5);
  Tensor c = router.expert_counts().clone();
  router.update_bias(1e-3);
  check_close(router.e_score_correction_bias(), (sign(mean(c) - c) * 1e-3).to(kF32), 1e-6, 1e-9);
}
