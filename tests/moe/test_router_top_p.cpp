// TopPRouter (Huang et al. 2024): ids / kept / weights and gradients (dynamic loss included) vs the
// reference in tests/golden/gen_moe_routers_b.py, gradcheck, ties, the kept-slot balance loss, errors.
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
using moe::TopPOptions;
using moe::TopPRouter;

namespace {
TopPOptions tpo(double p, bool renorm = false, double dyn = 0.0) {
  TopPOptions t;
  t.top_p = p;
  t.renormalize = renorm;
  t.dynamic_loss_coef = dyn;
  return t;
}

}  // namespace

TEST_CASE("moe router top-p: ids, kept, weights and gradients match Huang et al.'s routing") {
  const Golden& g = Golden::get("moe_routers_b");
  struct Case {
    std::string name;
    double p;
    int64_t max_k;
    bool renorm;
  };
  for (const Case& c : {Case{"p05", 0.5, 8, false}, Case{"p07k3", 0.7, 3, true}}) {
    for (DType dt : {kF64, kF32}) {
      INFO(c.name << " in " << dt);
      const std::string p = "topp." + c.name;
      TopPRouter r(router_options(6, 8, c.max_k, dt), tpo(c.p, c.renorm, 0.1));
      set_tensor(r, "weight", g[p + ".W"]);
      auto d = r(g[p + ".x"].to(dt));
      CHECK(d.top_k() == c.max_k);
      check_equal(d.expert_ids, g[p + ".ids"]);
      check_equal(d.kept, g[p + ".kept"]);
      const double tol = dt == kF64 ? 1e-12 : 1e-5;
      check_close(d.weights, g[p + ".weights"].to(dt), tol, tol);
      check_close(d.losses.at("dynamic"), g[p + ".dynamic"].to(dt), tol, tol);
      Tensor obj = add(sum(mul(d.weights, g[p + ".gout"].to(dt))), d.aux_loss);
      check_close(autograd::grad({obj}, {r.tensor_slot("weight")})[0], g[p + ".dW"].to(dt), tol, tol);
    }
  }
}

TEST_CASE("moe router top-p: uniform probabilities, ties, bounds on the expert count") {
  TopPRouter r(router_options(2, 4, 4), tpo(0.5));
  set_tensor(r, "weight", zeros({4, 2}));
  auto d = r(ones({3, 2}));
  // Probabilities 1/4 each: before-sums 0, .25, .5, .75, so three experts (the third crosses 0.5).
  check_equal(d.expert_ids, from_vector(std::vector<int64_t>{0, 1, 2, 3}, {1, 4}).expand({3, 4}).contiguous());
  check_equal(d.kept, from_vector(std::vector<int64_t>{1, 1, 1, 0}, {1, 4}).to(kBool).expand({3, 4}).contiguous());
  check_close(d.weights, from_vector(std::vector<float>{0.25f, 0.25f, 0.25f, 0.0f}, {1, 4}).expand({3, 4}).contiguous());
  // At most max_k experts.
  TopPRouter two(router_options(2, 4, 2), tpo(1.0, /*renorm=*/true));
  set_tensor(two, "weight", zeros({4, 2}));
  auto d2 = two(ones({1, 2}));
  CHECK(all(d2.kept).item<bool>());
  check_close(d2.weights, full({1, 2}, 0.5f));
  // At least one: a tiny p keeps only the top expert, which then carries weight 1 after renormalising.
  TopPRouter tiny(router_options(3, 5, 5), tpo(1e-6, true));
  auto d3 = tiny(randn({6, 3}));
  check_equal(sum(d3.kept.to(kI64), {1}), ones({6}, kI64));
  check_close(d3.weights.select(1, 0), ones({6}));
  // max_k = 1 with any p is top-1 routing on the softmax.
  TopPRouter top1(router_options(3, 5, 1), tpo(0.9));
  top1.load_state_dict(tiny.state_dict());
  Tensor x = randn({6, 3});
  auto d4 = top1(x);
  check_equal(d4.expert_ids, argmax(softmax(linear(x, top1.weight()), 1), 1, true));
}

TEST_CASE("moe router top-p: load balancing counts kept slots only") {
  auto o = router_options(2, 4, 4);
  o.load_balance_coef = 1.0;
  TopPRouter r(o, tpo(0.5));
  set_tensor(r, "weight", zeros({4, 2}));
  auto d = r(ones({4, 2}));
  // Uniform probabilities: 1 for any counts.
  CHECK(d.losses.at("load_balancing").item<float>() == doctest::Approx(1.0));
  TopPRouter s(o, tpo(0.6));
  Tensor x = randn({7, 2});
  auto e = s(x);
  Tensor counts = index_put(zeros({4}), {e.expert_ids.reshape({-1})}, e.kept.reshape({-1}).to(kF32), true);
  Tensor f = counts / sum(counts);
  double expect = 4.0 * sum(mul(f, mean(e.probs, {0}))).item<float>();
  CHECK(e.losses.at("load_balancing").item<float>() == doctest::Approx(expect).epsilon(1e-5));
  CHECK(e.aux_loss.item<float>() == doctest::Approx(expect).epsilon(1e-5));
}

TEST_CASE("moe router top-p: gradcheck, non-contiguous tokens, determinism, empty batch") {
  auto o = router_options(5, 6, 4, kF64);
  o.load_balance_coef = 0.1;
  o.z_loss_coef = 0.01;
  for (bool renorm : {false, true}) {
    TopPRouter r(o, tpo(0.6, renorm, 0.05));
    Tensor w = r.weight().detach().clone().requires_grad_();
    Tensor xs = testing::strided_leaf64({7, 5});
    CHECK(testing::gradcheck1([&](const std::vector<Tensor>& in) {
      return nn::functional_call(r, {{"weight", in[0]}}, [&] {
        auto d = r(in[1]);
        return add(sum(mul(d.weights, d.weights)), d.aux_loss);
      });
    }, {w, xs}));
  }
  TopPRouter r(router_options(4, 6, 3), tpo(0.5, false, 0.1));
  Tensor xt = randn({4, 9}).t();
  auto d = r(xt);
  auto dc = r(xt.contiguous());
  check_equal(d.kept, dc.kept);
  check_equal(d.weights, dc.weights);
  check_equal(r(xt).expert_ids, d.expert_ids);
  auto de = r(zeros({0, 4}));
  CHECK(de.kept.shape() == Shape{0, 3});
  CHECK(de.losses.at("dynamic").item<float>() == 0.0f);
}

TEST_CASE("moe router top-p: bad options and inputs are errors") {
  CHECK_MOELAB_ERROR(TopPRouter(router_options(4, 3, 2), tpo(0.0)), "top_p");
  CHECK_MOELAB_ERROR(TopPRouter(router_options(4, 3, 2), tpo(1.5)), "top_p");
  CHECK_MOELAB_ERROR(TopPRouter(router_options(4, 3, 4), tpo(0.5)), "top_k");
  TopPRouter r(router_options(4, 3, 2));
  CHECK_MOELAB_ERROR(r(randn({2, 2, 4})), "TopPRouter");
}
