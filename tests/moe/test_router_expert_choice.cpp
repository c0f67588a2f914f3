// ExpertChoiceRouter (Zhou et al. 2022): golden vs flaxformer ExpertsChooseMaskedRouter, gradcheck,
// capacity, ties, jitter, errors.
#include "autograd/grad_test_util.h"
#include "support/check.h"

using namespace moelab;
using moelab::testing::check_close;
using moelab::testing::check_equal;
using moelab::testing::Golden;
using moe::ExpertChoiceOptions;
using moe::ExpertChoiceRouter;
using moe::RouterOptions;

namespace {
const Golden& golden() { return Golden::get("moe_routers_a"); }

RouterOptions opts(int64_t d, int64_t e, DType dt = kF32) {
  RouterOptions o;
  o.d_model = d;
  o.num_experts = e;
  o.dtype = dt;
  return o;
}

ExpertChoiceOptions ec(double cf, bool bias = false) {
  ExpertChoiceOptions o;
  o.capacity_factor = cf;
  o.bias = bias;
  return o;
}
}  // namespace

TEST_CASE("moe expert choice router: golden kept, weights, z-loss and gradients vs flaxformer") {
  const Golden& g = golden();
  struct Case {
    const char* name;
    double cf;
    bool bias;
  };
  for (const Case& c : {Case{"ec.E4.T10.cf1.0", 1.0, false}, Case{"ec.E3.T9.cf2.0", 2.0, true},
                        Case{"ec.E5.T8.cf0.5", 0.5, false}}) {
    const std::string name = c.name;
    for (DType dt : {kF64, kF32}) {
      INFO(name << " in " << dt);
      Tensor weight = g[name + ".weight"];
      const int64_t E = weight.size(0);
      auto o = opts(weight.size(1), E, dt);
      o.z_loss_coef = 0.1;
      ExpertChoiceRouter r(o, ec(c.cf, c.bias));
      {
        NoGradGuard ng;
        r.tensor_slot("weight").copy_(weight.to(dt));
        if (c.bias) r.tensor_slot("bias").copy_(g[name + ".bias"].to(dt));
      }
      Tensor x = g[name + ".x"].to(dt).clone().requires_grad_();
      auto d = r(x);
      const int64_t T = x.size(0);
      CHECK(d.top_k() == E);
      CHECK(r.top_k() == E);
      check_equal(d.kept, g[name + ".kept"]);
      check_equal(d.expert_ids, arange(int64_t{0}, E, int64_t{1}, kI64).unsqueeze(0).expand({T, E}));
      const double tol = dt == kF64 ? 1e-11 : 1e-5;
      check_close(d.weights, g[name + ".weights"].to(dt), tol, tol);
      check_close(d.logits, g[name + ".logits"].to(dt), tol, tol);
      check_close(d.losses.at("z_loss"), g[name + ".z_loss"].to(dt), tol, tol);
      CHECK(d.losses.size() == 1);
      // Every expert takes exactly C tokens.
      check_equal(sum(d.kept.to(kI64), {0}), full({E}, r.capacity(T), kI64));
      Tensor out = sum(d.weights * g[name + ".gout"].to(dt)) + d.aux_loss;
      std::vector<Tensor> ins = {x, r.weight()};
      if (c.bias) ins.push_back(r.tensor_slot("bias"));
      auto grads = autograd::grad({out}, ins);
      const double rtol = dt == kF64 ? 1e-10 : 1e-4, atol = dt == kF64 ? 1e-12 : 1e-5;
      check_close(grads[0], g[name + ".dx"].to(dt), rtol, atol);
      check_close(grads[1], g[name + ".dweight"].to(dt), rtol, atol);
      if (c.bias) check_close(grads[2], g[name + ".dbias"].to(dt), rtol, atol);
    }
  }
}

TEST_CASE("moe expert choice router: f64 gradcheck of the weights and z-loss, non-contiguous tokens") {
  auto o = opts(4, 3, kF64);
  o.z_loss_coef = 0.05;
  ExpertChoiceRouter r(o, ec(1.5, /*bias=*/true));
  Tensor w = (r.weight().detach().clone() * 3.0).requires_grad_();
  Tensor b = r.tensor_slot("bias").detach().clone().requires_grad_();
  Tensor x = testing::strided_leaf64({7, 4});
  Tensor gout = randn({7, 3}, kF64);
  CHECK(testing::gradcheck1([&](const std::vector<Tensor>& in) {
    return nn::functional_call(r, {{"weight", in[0]}, {"bias", in[1]}}, [&] {
      auto d = r(in[2]);
      return sum(d.weights * gout) + d.aux_loss;
    });
  }, {w, b, x}));
  // The transposed view routes as its contiguous copy.
  auto a = r(x.detach()), c = r(x.detach().contiguous());
  check_equal(a.kept, c.kept);
  check_close(a.weights, c.weights, 1e-12);
}

TEST_CASE("moe expert choice router: capacity, ties to the lowest token, weights zero where not chosen") {
  ExpertChoiceRouter r(opts(2, 4), ec(1.0));
  CHECK(r.capacity(10) == 3);  // ceil(10 / 4)
  CHECK(r.capacity(0) == 0);
  ExpertChoiceRouter big(opts(2, 4), ec(8.0));
  CHECK(big.capacity(10) == 10);  // never more than T
  ExpertChoiceOptions fixed;
  fixed.capacity = 2;
  ExpertChoiceRouter f(opts(2, 4), fixed);
  CHECK(f.capacity(10) == 2);
  CHECK(f.capacity(1) == 1);
  // Identical tokens: every expert takes tokens 0..C-1.
  auto d = r(ones({6, 2}));
  Tensor expect = zeros({6, 4}, kBool);
  expect.narrow(0, 0, 2).fill_(true);
  check_equal(d.kept, expect);
  check_close(d.weights.narrow(0, 2, 4), zeros({4, 4}), 0, 0);
  check_close(d.weights.narrow(0, 0, 2), gather(d.probs, 1, d.expert_ids).narrow(0, 0, 2), 0, 0);
  // Empty batch.
  auto e = r(zeros({0, 2}));
  CHECK(e.kept.shape() == Shape{0, 4});
  CHECK(e.weights.shape() == Shape{0, 4});
}

TEST_CASE("moe expert choice router: eval determinism and jitter only in training") {
  auto o = opts(3, 4);
  o.jitter_eps = 0.4;
  ExpertChoiceRouter r(o);
  Tensor x = randn({12, 3});
  r.eval();
  auto a = r(x), b = r(x);
  check_equal(a.kept, b.kept);
  check_equal(a.weights, b.weights);
  check_equal(a.logits, linear(x, r.weight()));
  r.train();
  r.manual_seed(2);
  auto c = r(x);
  r.manual_seed(2);
  check_equal(r(x).logits, c.logits);
  CHECK_FALSE(allclose(c.logits, a.logits));
  CHECK(a.aux_loss.item<float>() == 0.0f);
  CHECK(a.losses.empty());
}

TEST_CASE("moe expert choice router: bad options and inputs are errors") {
  CHECK_MOELAB_ERROR(ExpertChoiceRouter(opts(3, 4), ec(0.0)), "capacity_factor");
  CHECK_MOELAB_ERROR(ExpertChoiceRouter(opts(3, 4), ec(-1.0)), "capacity_factor");
  ExpertChoiceOptions neg;
  neg.capacity = -1;
  CHECK_MOELAB_ERROR(ExpertChoiceRouter(opts(3, 4), neg), "capacity");
  auto lb = opts(3, 4);
  lb.load_balance_coef = 0.01;
  CHECK_MOELAB_ERROR(ExpertChoiceRouter(lb), "load_balance_coef");
  CHECK_MOELAB_ERROR(ExpertChoiceRouter(opts(3, 0)), "num_experts");
  ExpertChoiceRouter r(opts(3, 4));
  CHECK_MOELAB_ERROR(r(randn({5, 2})), "d_model = 3");
  CHECK_MOELAB_ERROR(r(ones({5, 3}, kI64)), "floating");
  CHECK_MOELAB_ERROR(r.capacity(-1), "num_tokens");
}
