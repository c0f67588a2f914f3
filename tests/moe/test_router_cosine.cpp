// CosineRouter (X-MoE): golden routing and gradients vs the reference in
// tests/golden/gen_moe_routers_b.py, temperature handling, gradcheck, ties, errors.
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
using moe::CosineRouter;
using moe::CosineRouterOptions;
using moe::RouterOptions;

namespace {
CosineRouterOptions cro(int64_t d_proj, bool learnable = true) {
  CosineRouterOptions c;
  c.d_proj = d_proj;
  c.learnable_temperature = learnable;
  return c;
}

bool has(const nn::NamedTensors& named, const std::string& name) {
  for (const auto& [n, t] : named)
    if (n == name) return true;
  return false;
}

}  // namespace

TEST_CASE("moe router cosine: routing and gradients match the X-MoE reference") {
  const Golden& g = Golden::get("moe_routers_b");
  for (DType dt : {kF64, kF32}) {
    INFO(dt);
    CosineRouter r(router_options(6, 8, 2, dt), cro(4));
    set_tensor(r, "proj_weight", g["cos.proj"]);
    set_tensor(r, "expert_embeddings", g["cos.emb"]);
    set_tensor(r, "log_temperature", g["cos.log_tau"]);
    CHECK(r.temperature() == doctest::Approx(0.3));
    auto d = r(g["cos.x"].to(dt));
    check_equal(d.expert_ids, g["cos.ids"]);
    const double tol = dt == kF64 ? 1e-11 : 2e-5;
    check_close(d.weights, g["cos.weights"].to(dt), tol, tol);
    auto grads = autograd::grad({sum(mul(d.weights, g["cos.gout"].to(dt)))},
                                {r.tensor_slot("proj_weight"), r.tensor_slot("expert_embeddings"),
                                 r.tensor_slot("log_temperature")});
    check_close(grads[0], g["cos.dproj"].to(dt), tol, tol);
    check_close(grads[1], g["cos.demb"].to(dt), tol, tol);
    check_close(grads[2], g["cos.dlog_tau"].to(dt), tol, tol);
  }
}

TEST_CASE("moe router cosine: temperature init, clamp and the fixed form") {
  CosineRouter r(router_options(4, 3, 1), cro(2));
  CHECK(r.temperature() == doctest::Approx(0.07));
  CHECK(has(r.named_parameters(), "log_temperature"));
  set_tensor(r, "log_temperature", full({}, std::log(0.001)));
  CHECK(r.temperature() == doctest::Approx(0.01));
  Tensor x = randn({5, 4});
  auto d = r(x);
  // |cosine| <= 1, so |logits| <= 1 / 0.01 after the clamp.
  CHECK(amax(abs(d.logits)).item<float>() <= 100.0f + 1e-3f);
  CosineRouter fixed(router_options(4, 3, 1), cro(2, /*learnable=*/false));
  CHECK_FALSE(has(fixed.named_parameters(), "log_temperature"));
  CHECK(has(fixed.named_buffers(), "log_temperature"));
  // Logits are cosines over tau: scaling the projection or the embeddings changes nothing.
  CosineRouter s(router_options(4, 3, 2), cro(2));
  auto d0 = s(x);
  set_tensor(s, "expert_embeddings", s.expert_embeddings() * 3.0);
  set_tensor(s, "proj_weight", s.proj_weight() * 0.5);
  auto d1 = s(x);
  check_equal(d1.expert_ids, d0.expert_ids);
  check_close(d1.logits, d0.logits, 1e-4, 1e-4);
  check_close(d0.probs, softmax(d0.logits, 1), 1e-6, 1e-7);
}

TEST_CASE("moe router cosine: expert embeddings start orthogonal with gain 0.32 (X-MoE)") {
  // E <= d_proj: the experts' embeddings are at right angles, each of norm 0.32.
  CosineRouter r(router_options(8, 4, 2, kF64), cro(6));
  const Tensor e = r.expert_embeddings().detach();
  check_close(matmul(e, e.t()), eye(4, kF64) * (0.32 * 0.32), 1e-12, 1e-12);
  // E > d_proj: as many orthogonal directions as fit, the columns orthonormal (times 0.32).
  CosineRouter w(router_options(8, 6, 2, kF64), cro(3));
  const Tensor f = w.expert_embeddings().detach();
  check_close(matmul(f.t(), f), eye(3, kF64) * (0.32 * 0.32), 1e-12, 1e-12);
}

TEST_CASE("moe router cosine: gradcheck of weights and aux losses w.r.t. parameters, tau and tokens") {
  auto o = router_options(5, 4, 2, kF64);
  o.load_balance_coef = 0.1;
  o.z_loss_coef = 0.01;
  CosineRouterOptions c = cro(3);
  c.renormalize = true;
  c.init_temperature = 0.5;
  CosineRouter r(o, c);
  Tensor p = r.proj_weight().detach().clone().requires_grad_();
  Tensor e = r.expert_embeddings().detach().clone().requires_grad_();
  Tensor lt = full({}, std::log(0.5), kF64).requires_grad_();
  Tensor xs = testing::strided_leaf64({6, 5});
  CHECK(testing::gradcheck1([&](const std::vector<Tensor>& in) {
    return nn::functional_call(r, {{"proj_weight", in[0]}, {"expert_embeddings", in[1]}, {"log_temperature", in[2]}},
                               [&] {
                                 auto d = r(in[3]);
                                 return add(sum(mul(d.weights, d.weights)), d.aux_loss);
                               });
  }, {p, e, lt, xs}));
}

TEST_CASE("moe router cosine: non-contiguous tokens, determinism, ties, empty batch") {
  CosineRouter r(router_options(4, 4, 2), cro(3));
  Tensor xt = randn({4, 6}).t();
  auto d = r(xt);
  check_equal(r(xt.contiguous()).weights, d.weights);
  check_equal(r(xt).expert_ids, d.expert_ids);
  // Equal embeddings: every expert ties, the lowest indices win.
  set_tensor(r, "expert_embeddings", ones({4, 3}));
  check_equal(r(xt).expert_ids, from_vector(std::vector<int64_t>{0, 1}, {1, 2}).expand({6, 2}).contiguous());
  CHECK(r(zeros({0, 4})).weights.shape() == Shape{0, 2});
}

TEST_CASE("moe router cosine: bad options and inputs are errors") {
  CHECK_MOELAB_ERROR(CosineRouter(router_options(4, 3, 1), cro(0)), "d_proj");
  CosineRouterOptions c;
  c.min_temperature = 0;
  CHECK_MOELAB_ERROR(CosineRouter(router_options(4, 3, 1), c), "min_temperature");
  c = {};
  c.init_temperature = 0.001;
  CHECK_MOELAB_ERROR(CosineRouter(router_options(4, 3, 1), c), "init_temperature");
  c = {};
  c.eps = 0;
  CHECK_MOELAB_ERROR(CosineRouter(router_options(4, 3, 1), c), "eps");
  CHECK_MOELAB_ERROR(CosineRouter(router_options(4, 3, 4)), "top_k");
  CosineRouter r(router_options(4, 3, 1));
  CHECK_MOELAB_ERROR(r(randn({2, 3})), "d_model = 4");
}
