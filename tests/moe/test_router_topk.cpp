// TopKRouter and the Router base: both softmax/top-k orders, renormalisation, ties, jitter, losses.
#include "autograd/grad_test_util.h"
#include "moe/router_test_util.h"
#include "support/check.h"

using namespace moelab;
using moelab::testing::router_options;
using moelab::testing::set_tensor;
using moelab::testing::check_close;
using moelab::testing::check_equal;
using moe::RouterOptions;
using moe::TopKOrder;
using moe::TopKRouter;


TEST_CASE("moe router: top-k orders choose the same experts and renormalised weights agree") {
  manual_seed(1);
  TopKRouter a(router_options(6, 5, 2), TopKOrder::kSoftmaxThenTopK, /*renormalize=*/true);
  TopKRouter b(router_options(6, 5, 2), TopKOrder::kTopKThenSoftmax);
  b.load_state_dict(a.state_dict());
  Tensor x = randn({7, 6});
  auto da = a(x), db = b(x);
  check_equal(da.expert_ids, db.expert_ids);
  check_close(da.weights, db.weights, 1e-6);
  check_close(sum(db.weights, {1}), ones({7}), 1e-6);
  // Without renormalisation the weights are the softmax probabilities themselves.
  TopKRouter c(router_options(6, 5, 2));
  c.load_state_dict(a.state_dict());
  auto dc = c(x);
  check_close(dc.weights, gather(softmax(linear(x, a.weight()), 1), 1, dc.expert_ids), 1e-6);
  CHECK(dc.kept.dtype() == kBool);
  CHECK(sum(dc.kept.to(kI64)).item<int64_t>() == 14);
}

TEST_CASE("moe router: ties go to the lowest expert index") {
  TopKRouter r(router_options(2, 4, 2));
  {
    NoGradGuard ng;
    r.tensor_slot("weight").copy_(tensor({1.0f, 0.0f, 1.0f, 0.0f, 1.0f, 0.0f, 0.5f, 0.0f}).view({4, 2}));
  }
  auto d = r(tensor({1.0f, 3.0f}).view({1, 2}));
  check_equal(d.expert_ids, tensor({int64_t{0}, int64_t{1}}).view({1, 2}));
}

TEST_CASE("moe router: f64 tokens route in f64 and the weights are differentiable") {
  TopKRouter r(router_options(4, 3, 2, kF64), TopKOrder::kTopKThenSoftmax);
  Tensor x = randn({5, 4}, kF64);
  auto d = r(x);
  CHECK(d.weights.dtype() == kF64);
  CHECK(d.logits.dtype() == kF64);
  // f32 tokens with f64 router weights route in f32.
  CHECK(r(x.to(kF32)).weights.dtype() == kF32);
  // Gradcheck of the weights (and the aux losses) w.r.t. the router weight and the tokens.
  auto o = router_options(4, 3, 2, kF64);
  o.load_balance_coef = 0.1;
  o.z_loss_coef = 0.01;
  for (TopKOrder order : {TopKOrder::kSoftmaxThenTopK, TopKOrder::kTopKThenSoftmax}) {
    TopKRouter g(o, order, /*renormalize=*/order == TopKOrder::kSoftmaxThenTopK);
    Tensor w = g.weight().detach().clone().requires_grad_();
    Tensor xs = testing::strided_leaf64({5, 4});
    CHECK(testing::gradcheck1([&](const std::vector<Tensor>& in) {
      return nn::functional_call(g, {{"weight", in[0]}}, [&] {
        auto dd = g(in[1]);
        return add(sum(mul(dd.weights, dd.weights)), dd.aux_loss);
      });
    }, {w, xs}));
  }
}

TEST_CASE("moe router: jitter only in training mode, reproducible by seed") {
  auto o = router_options(4, 3, 1);
  o.jitter_eps = 0.5;
  TopKRouter r(o);
  Tensor x = randn({9, 4});
  r.eval();
  check_equal(r(x).logits, linear(x, r.weight()));
  r.train();
  r.manual_seed(3);
  Tensor l1 = r(x).logits;
  r.manual_seed(3);
  check_equal(r(x).logits, l1);
  CHECK_FALSE(allclose(l1, linear(x, r.weight())));
}

TEST_CASE("moe router: standard losses follow the coefficients") {
  auto o = router_options(4, 3, 2);
  TopKRouter plain(o);
  Tensor x = randn({6, 4});
  auto d0 = plain(x);
  CHECK(d0.losses.empty());
  CHECK(d0.aux_loss.item<float>() == 0.0f);
  o.load_balance_coef = 0.01;
  o.z_loss_coef = 0.001;
  TopKRouter r(o);
  r.load_state_dict(plain.state_dict());
  auto d = r(x);
  REQUIRE(d.losses.count("load_balancing") == 1);
  REQUIRE(d.losses.count("z_loss") == 1);
  double expect = 0.01 * moe::switch_load_balancing_loss(d.probs, d.expert_ids).item<float>() +
                  0.001 * moe::router_z_loss(d.logits).item<float>();
  CHECK(d.aux_loss.item<float>() == doctest::Approx(expect).epsilon(1e-6));
}

TEST_CASE("moe router: bad options and inputs are errors") {
  CHECK_MOELAB_ERROR(TopKRouter(router_options(0, 3, 1)), "d_model");
  CHECK_MOELAB_ERROR(TopKRouter(router_options(4, 0, 1)), "num_experts");
  CHECK_MOELAB_ERROR(TopKRouter(router_options(4, 3, 4)), "top_k");
  CHECK_MOELAB_ERROR(TopKRouter(router_options(4, 3, 0)), "top_k");
  TopKRouter r(router_options(4, 3, 1));
  CHECK_MOELAB_ERROR(r(randn({5, 3})), "d_model = 4");
  CHECK_MOELAB_ERROR(r(randn({5})), "TopKRouter");
  CHECK_MOELAB_ERROR(r(ones({5, 4}, kI64)), "floating");
}
