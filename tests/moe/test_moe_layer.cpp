// The MoE layer (moe/moe_layer.h): invariants (dense average at k = E, a naive per-token loop,
// expert permutation, shared experts), f64 gradcheck dropless and with dropped slots, golden
// forward and gradients against the HF Mixtral / Qwen2-MoE sparse block in PyTorch, shapes, errors.
#include <memory>
#include <string>
#include <vector>

#include "autograd/grad_test_util.h"
#include "moe/expert_test_util.h"
#include "support/check.h"

using namespace moelab;
using moelab::testing::expert_ref;
using namespace moelab::testing;
using moe::ExpertFFN;
using moe::MoELayer;
using moe::MoELayerOptions;
using moe::RouterOptions;
using moe::TopKOrder;
using moe::TopKRouter;

namespace {

RouterOptions ropts(int64_t d, int64_t E, int64_t k, DType dt = kF32, double lb = 0.0) {
  RouterOptions o;
  o.d_model = d;
  o.num_experts = E;
  o.top_k = k;
  o.dtype = dt;
  o.load_balance_coef = lb;
  return o;
}

MoELayerOptions lopts(int64_t f, const std::string& act, DType dt, int64_t shared = 0, bool gate = false) {
  MoELayerOptions o;
  o.d_ff = f;
  o.activation = act;
  o.dtype = dt;
  o.shared_d_ff = shared;
  o.shared_expert_gate = gate;
  return o;
}

// A TopKRouter that drops a fixed pattern of slots ((t + j) % 3 == 0), as capacity would: kept =
// false and the weight zeroed.
class DroppingRouter : public TopKRouter {
 public:
  using TopKRouter::TopKRouter;
  moe::RoutingDecision route(const Tensor& x) override {
    moe::RoutingDecision d = TopKRouter::route(x);
    const int64_t T = d.num_tokens(), k = d.top_k();
    std::vector<bool> keep(static_cast<size_t>(T * k));
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = 0; j < k; ++j) keep[static_cast<size_t>(t * k + j)] = (t + j) % 3 != 0;
    d.kept = from_vector(keep, {T, k});
    d.weights = d.weights * d.kept.to(d.weights.dtype());
    return d;
  }
};

// The layer's output from its last decision, one (token, slot) at a time, plus the shared experts.
Tensor naive_layer(MoELayer& m, const Tensor& tokens) {
  const moe::RoutingDecision& d = m.last_decision();
  const int64_t T = tokens.size(0), k = d.top_k();
  const std::vector<int64_t> ids = d.expert_ids.to_vector<int64_t>();
  const std::vector<bool> keep = d.kept.to_vector<bool>();
  const Tensor w = d.weights.to(tokens.dtype());
  std::vector<Tensor> rows;
  for (int64_t t = 0; t < T; ++t) {
    const Tensor xt = tokens.narrow(0, t, 1);
    Tensor acc = zeros({1, tokens.size(1)}, tokens.dtype());
    for (int64_t j = 0; j < k; ++j)
      if (keep[static_cast<size_t>(t * k + j)])
        acc = acc + expert_ref(m.experts(), ids[static_cast<size_t>(t * k + j)], xt) * w.narrow(0, t, 1).narrow(1, j, 1);
    rows.push_back(acc);
  }
  Tensor y = cat(rows, 0);
  if (m.shared_experts()) {
    Tensor s = expert_ref(*m.shared_experts(), 0, tokens);
    if (m.shared_expert_gate()) s = s * sigmoid(matmul(tokens, m.shared_expert_gate()->weight().t()));
    y = y + s;
  }
  return y;
}

}  // namespace

TEST_CASE("moe layer: k = E with a zero router weight is the dense average of the experts") {
  manual_seed(1);
  for (const char* act : {"swiglu", "relu"}) {
    INFO(act);
    const int64_t d = 5, E = 4, T = 6;
    auto r = std::make_shared<TopKRouter>(ropts(d, E, E, kF64));
    {
      NoGradGuard ng;
      r->tensor_slot("weight").zero_();
    }
    MoELayer m(r, lopts(7, act, kF64));
    const Tensor x = randn({T, d}, kF64);
    Tensor dense = zeros({T, d}, kF64);
    for (int64_t e = 0; e < E; ++e) dense = dense + expert_ref(m.experts(), e, x);
    check_close(m(x), dense / static_cast<double>(E), 1e-12, 1e-12);
  }
}

TEST_CASE("moe layer: the dropless layer equals a naive per-token loop") {
  manual_seed(2);
  const int64_t d = 6, E = 5, T = 11;
  for (DType dt : {kF64, kF32})
    for (const char* act : {"swiglu", "gelu", "silu"})
      for (int64_t k : {1, 2, 3})
        for (int64_t shared : {0, 4}) {
          INFO(act << " in " << dt << " k " << k << " shared " << shared);
          auto r = std::make_shared<TopKRouter>(ropts(d, E, k), TopKOrder::kSoftmaxThenTopK, k > 1);
          MoELayer m(r, lopts(8, act, dt, shared, shared > 0 && k == 2));
          const Tensor x = randn({T, d}, dt);
          const Tensor y = m(x);
          // The decision is the router's, every slot kept.
          const moe::RoutingDecision direct = m.router()(x);
          check_equal(m.last_decision().expert_ids, direct.expert_ids);
          CHECK(m.last_decision().kept.to(kI64).sum().item<int64_t>() == T * k);
          const double tol = dt == kF64 ? 1e-12 : 1e-5;
          check_close(y, naive_layer(m, x), tol, tol);
        }
}

TEST_CASE("moe layer: dropped slots contribute nothing") {
  manual_seed(3);
  auto r = std::make_shared<DroppingRouter>(ropts(4, 3, 2, kF64));
  MoELayer m(r, lopts(5, "swiglu", kF64));
  const Tensor x = randn({7, 4}, kF64);
  const Tensor y = m(x);
  CHECK(m.last_decision().kept.to(kI64).sum().item<int64_t>() < 14);
  check_close(y, naive_layer(m, x), 1e-12, 1e-12);
  // A token whose only slot is dropped (k = 1, t % 3 == 0) gets exactly zero.
  auto r1 = std::make_shared<DroppingRouter>(ropts(4, 3, 1, kF64));
  MoELayer m1(r1, lopts(5, "relu", kF64));
  const Tensor y1 = m1(x);
  check_equal(y1.narrow(0, 0, 1), zeros({1, 4}, kF64));
  check_equal(y1.narrow(0, 3, 1), zeros({1, 4}, kF64));
  CHECK(y1.narrow(0, 1, 1).abs().sum().item<double>() > 0);
}

TEST_CASE("moe layer: capacity from apply_capacity is honoured through decision.kept") {
  manual_seed(4);
  auto r = std::make_shared<TopKRouter>(ropts(4, 4, 2, kF64));
  MoELayerOptions o = lopts(6, "swiglu", kF64);
  o.capacity.factor = 0.5;
  MoELayer m(r, o);
  const Tensor x = randn({16, 4}, kF64);
  Tensor y = m(x);
  const int64_t kept = m.last_decision().kept.to(kI64).sum().item<int64_t>();
  CHECK(kept <= 4 * 4);
  CHECK(kept < 16 * 2);  // this seed overflows some expert, so something is dropped
  check_close(y, naive_layer(m, x), 1e-12, 1e-12);
}

TEST_CASE("moe layer: permuting the experts together with the router rows changes nothing") {
  manual_seed(5);
  const int64_t d = 5, E = 4, k = 2, T = 9;
  const std::vector<int64_t> perm = {2, 0, 3, 1};  // new expert i is old expert perm[i]
  const Tensor p = from_vector(perm, {E});
  auto r = std::make_shared<TopKRouter>(ropts(d, E, k, kF64), TopKOrder::kSoftmaxThenTopK, true);
  MoELayer a(r, lopts(6, "swiglu", kF64, 3));
  MoELayer b(std::make_shared<TopKRouter>(ropts(d, E, k, kF64), TopKOrder::kSoftmaxThenTopK, true),
             lopts(6, "swiglu", kF64, 3));
  std::map<std::string, Tensor> sd = a.state_dict();
  for (const char* name : {"router.weight", "experts.w1", "experts.w2", "experts.w3"})
    sd[name] = index_select(sd[name], 0, p);
  b.load_state_dict(sd);
  const Tensor x = randn({T, d}, kF64);
  check_close(b(x), a(x), 1e-12, 1e-12);
  // The same experts were chosen under their new numbers.
  check_equal(index_select(p, 0, b.last_decision().expert_ids.reshape({-1})).reshape({T, k}),
              a.last_decision().expert_ids);
}

TEST_CASE("moe layer: shared experts add a dense FFN, gated by sigmoid as Qwen2-MoE") {
  manual_seed(6);
  const int64_t d = 4, E = 3, T = 5;
  auto r = std::make_shared<TopKRouter>(ropts(d, E, 2));
  MoELayer plain(r, lopts(6, "swiglu", kF32));
  MoELayer shared(std::make_shared<TopKRouter>(ropts(d, E, 2)), lopts(6, "swiglu", kF32, 7));
  MoELayer gated(std::make_shared<TopKRouter>(ropts(d, E, 2)), lopts(6, "swiglu", kF32, 7, true));
  const auto names = shared.state_dict();
  CHECK(names.count("shared_experts.w1") == 1);
  CHECK(names.at("shared_experts.w2").shape() == Shape{1, 7, d});
  CHECK(names.count("shared_expert_gate.weight") == 0);
  CHECK(gated.state_dict().at("shared_expert_gate.weight").shape() == Shape{1, d});
  shared.load_state_dict(plain.state_dict(), /*strict=*/false);
  gated.load_state_dict(shared.state_dict(), /*strict=*/false);
  const Tensor x = randn({T, d});
  const Tensor base = plain(x);
  const Tensor s = expert_ref(*shared.shared_experts(), 0, x);
  check_close(shared(x), base + s, 1e-5, 1e-5);
  const Tensor g = sigmoid(matmul(x, gated.shared_expert_gate()->weight().t()));
  check_close(gated(x), base + g * s, 1e-5, 1e-5);
}

// f64 gradcheck of y + aux_loss w.r.t. x and the named parameters of the layer.
static bool layer_gradcheck(MoELayer& m, const std::vector<std::string>& names, const Tensor& x) {
  std::vector<Tensor> in = {x};
  for (const auto& n : names) in.push_back(m.tensor_slot(n).detach().clone().requires_grad_());
  auto fn = [&](const std::vector<Tensor>& v) {
    std::map<std::string, Tensor> rep;
    for (size_t i = 0; i < names.size(); ++i) rep[names[i]] = v[i + 1];
    return nn::functional_call(m, rep, [&] {
      const Tensor y = m(v[0]);  // before aux_loss(), which reads the last forward
      return y + m.aux_loss();
    });
  };
  return gradcheck1(fn, in);
}

TEST_CASE("moe layer: f64 gradcheck w.r.t. x, router weight and expert weights, dropless and dropped") {
  manual_seed(7);
  const int64_t d = 3, E = 3, k = 2, T = 5;
  for (bool drop : {false, true})
    for (int64_t shared : {0, 2}) {
      INFO("drop " << drop << " shared " << shared);
      std::shared_ptr<moe::Router> r =
          drop ? std::shared_ptr<moe::Router>(std::make_shared<DroppingRouter>(ropts(d, E, k, kF64, 0.1),
                                                                               TopKOrder::kSoftmaxThenTopK, true))
               : std::make_shared<TopKRouter>(ropts(d, E, k, kF64, 0.1), TopKOrder::kSoftmaxThenTopK, true);
      MoELayer m(r, lopts(4, "swiglu", kF64, shared, shared > 0));
      std::vector<std::string> names = {"router.weight", "experts.w1", "experts.w2", "experts.w3"};
      if (shared) names.insert(names.end(), {"shared_experts.w1", "shared_expert_gate.weight"});
      CHECK(layer_gradcheck(m, names, strided_leaf64({T, d})));
    }
}

TEST_CASE("moe layer: f64 gradcheck with capacity dropping (score and position policies, renormalised)") {
  manual_seed(8);
  const int64_t d = 3, E = 3, k = 2, T = 6;
  for (moe::DropPolicy policy : {moe::DropPolicy::kScore, moe::DropPolicy::kPosition}) {
    for (bool renorm : {false, true}) {
      INFO("policy " << int(policy) << " renormalize " << renorm);
      auto r = std::make_shared<TopKRouter>(ropts(d, E, k, kF64, 0.1), TopKOrder::kSoftmaxThenTopK, false);
      MoELayerOptions o = lopts(4, "swiglu", kF64);
      o.capacity.factor = 0.5;  // C = ceil(6 * 2 / 3 * 0.5) = 2 of the 4 slots per expert on average
      o.capacity.policy = policy;
      o.capacity.renormalize = renorm;
      MoELayer m(r, o);
      const Tensor x = strided_leaf64({T, d});
      (void)m(x);
      const int64_t kept = m.last_decision().kept.to(kI64).sum().item<int64_t>();
      CHECK(kept <= E * 2);
      CHECK(kept < T * k);
      CHECK(layer_gradcheck(m, {"router.weight", "experts.w1", "experts.w2", "experts.w3"}, x));
    }
  }
}

TEST_CASE("moe layer: golden forward and gradients against the HF sparse MoE block") {
  const Golden& g = Golden::get("moe_layer");
  struct Case {
    const char* name;
    int64_t E, k, f;
    bool renorm;
    const char* act;
    int64_t shared;
    bool gate;
  };
  for (const Case& c : {Case{"mixtral", 4, 2, 8, true, "swiglu", 0, false},
                        Case{"qwen2", 6, 2, 4, false, "swiglu", 7, true},
                        Case{"deepseek_gelu", 5, 3, 6, true, "gelu", 5, false},
                        Case{"relu_k1", 3, 1, 5, false, "relu", 0, false}})
    for (DType dt : {kF64, kF32}) {
      const std::string n = c.name;
      INFO(n << " in " << dt);
      const Tensor x0 = g[n + ".x"];
      const int64_t d = x0.size(-1);
      auto r = std::make_shared<TopKRouter>(ropts(d, c.E, c.k, dt), TopKOrder::kSoftmaxThenTopK,
                                            c.renorm);
      MoELayer m(r, lopts(c.f, c.act, dt, c.shared, c.gate));
      std::map<std::string, std::string> keys = {{"router.weight", "gate"}, {"experts.w1", "W1"}, {"experts.w2", "W2"}};
      if (std::string(c.act) == "swiglu") keys["experts.w3"] = "W3";
      if (c.shared) {
        keys["shared_experts.w1"] = "SW1";
        keys["shared_experts.w2"] = "SW2";
        if (std::string(c.act) == "swiglu") keys["shared_experts.w3"] = "SW3";
      }
      if (c.gate) keys["shared_expert_gate.weight"] = "sgate";
      std::map<std::string, Tensor> sd;
      for (const auto& [ours, theirs] : keys) sd[ours] = g[n + "." + theirs];
      m.load_state_dict(sd);
      Tensor x = x0.to(dt).clone();
      x.requires_grad_();
      const Tensor out = m(x);
      const double tol = dt == kF64 ? 1e-11 : 1e-4;
      check_close(out, g[n + ".out"].to(dt), tol, tol);
      check_equal(m.last_decision().expert_ids, g[n + ".ids"]);
      out.backward(g[n + ".gout"].to(dt));
      check_close(x.grad(), g[n + ".dx"].to(dt), tol, tol);
      for (const auto& [ours, theirs] : keys) {
        INFO("gradient of " << ours);
        check_close(m.tensor_slot(ours).grad(), g[n + ".d" + theirs].to(dt), tol, tol);
      }
    }
}

TEST_CASE("moe layer: 3-D and non-contiguous inputs, zero tokens, aux loss and last decision") {
  manual_seed(8);
  const int64_t B = 2, S = 3, d = 4;
  auto o = ropts(d, 3, 2, kF32, 0.01);
  auto r = std::make_shared<TopKRouter>(o);
  MoELayer m(r, lopts(5, "swiglu", kF32, 3));
  CHECK(m.aux_loss().dim() == 0);
  CHECK(m.aux_loss().item<float>() == 0.0f);
  const Tensor x = randn({S, B, d}).transpose(0, 1);  // [B, S, d], not contiguous
  REQUIRE_FALSE(x.is_contiguous());
  const Tensor y = m(x);
  CHECK(y.shape() == Shape{B, S, d});
  CHECK(m.last_decision().expert_ids.shape() == Shape{B * S, 2});
  const Tensor flat = m(x.contiguous().reshape({B * S, d}));
  check_close(y.reshape({B * S, d}), flat, 1e-6, 1e-6);
  const moe::RoutingDecision direct = m.router()(x.contiguous().reshape({B * S, d}));
  check_close(m.aux_loss(), direct.aux_loss, 1e-6, 1e-7);
  CHECK(m.aux_loss().item<float>() > 0.0f);

  // Zero tokens: the shape comes back and backward works.
  for (const Shape& s : {Shape{0, d}, Shape{2, 0, d}}) {
    Tensor z = zeros(s);
    z.requires_grad_();
    const Tensor out = m(z);
    CHECK(out.shape() == s);
    out.sum().backward();
    CHECK(z.grad().shape() == s);
  }
}

TEST_CASE("moe layer: errors") {
  auto r = std::make_shared<TopKRouter>(ropts(4, 3, 2));
  CHECK_MOELAB_ERROR(MoELayer(nullptr, lopts(4, "relu", kF32)), "router is null");
  CHECK_MOELAB_ERROR(MoELayer(r, lopts(0, "relu", kF32)), "d_ff must be positive");
  CHECK_MOELAB_ERROR(MoELayer(r, lopts(4, "tanh", kF32)), "activation must be");
  CHECK_MOELAB_ERROR(MoELayer(r, lopts(4, "relu", kI64)), "dtype must be f32 or f64");
  CHECK_MOELAB_ERROR(MoELayer(r, lopts(4, "relu", kF32, -1)), "shared_d_ff");
  CHECK_MOELAB_ERROR(MoELayer(r, lopts(4, "relu", kF32, 0, true)), "shared_expert_gate needs shared experts");
  MoELayerOptions bad = lopts(4, "relu", kF32);
  bad.capacity.factor = -1;
  CHECK_MOELAB_ERROR(MoELayer(r, bad), "factor must be finite and >= 0");
  MoELayer m(r, lopts(4, "relu", kF32));
  CHECK_MOELAB_ERROR(m(randn({5, 3})), "d_model = 4");
  CHECK_MOELAB_ERROR(m(randn({5, 4}, kF64)), "dtype");
  CHECK_MOELAB_ERROR(m(Tensor()), "MoELayer: input");
  CHECK_MOELAB_ERROR(m(zeros({})), "MoELayer: input");
}
