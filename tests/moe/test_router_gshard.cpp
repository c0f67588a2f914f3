// GShard top-2 gating against DeepSpeed's and fairseq's top2gating (tests/golden/gen_moe_capacity.py):
// capacity, min capacity, Gumbel sampling and the random policy with given noise, batch-prioritised
// routing, l_aux, renormalised weights and gradients w.r.t. the logits; the router module; errors.
#include <cmath>
#include <string>
#include <vector>

#include "autograd/grad_test_util.h"
#include "support/check.h"
#include "support/golden.h"

using namespace moelab;
using moelab::testing::check_close;
using moelab::testing::check_equal;
using moelab::testing::Golden;
using moe::CapacityFormula;
using moe::GShardOptions;
using moe::GShardTop2Router;
using moe::RouterOptions;
using moe::RoutingDecision;
using moe::SecondExpertPolicy;

namespace {

const Golden& golden() { return Golden::get("moe_capacity"); }
double tol(DType dt) { return dt == kF64 ? 1e-12 : 2e-6; }

RouterOptions opts(int64_t d, int64_t e, DType dt = kF32) {
  RouterOptions o;
  o.d_model = d;
  o.num_experts = e;
  o.top_k = 2;
  o.dtype = dt;
  return o;
}

struct Case {
  const char* name;
  double cf;
  int64_t min_capacity;
  SecondExpertPolicy policy;
  bool drop_tokens;
  bool bpr;
  CapacityFormula formula;
};

GShardOptions options_of(const Case& c) {
  GShardOptions o;
  o.capacity_factor = c.cf;
  o.min_capacity = c.min_capacity;
  o.second_expert_policy = c.policy;
  o.drop_tokens = c.drop_tokens;
  o.batch_prioritized = c.bpr;
  o.formula = c.formula;
  return o;
}

}  // namespace

TEST_CASE("moe gshard: top-2 gating matches DeepSpeed and fairseq top2gating with gradients") {
  constexpr auto kAll = SecondExpertPolicy::kAll;
  constexpr auto kDS = CapacityFormula::kDeepSpeed;
  constexpr auto kFS = CapacityFormula::kTutel;  // cf = 1: fairseq's 2 * ceil(T / E)
  const Case cases[] = {
      {"ds.cf1", 1.0, 0, kAll, true, false, kDS},
      {"ds.cf05", 0.5, 0, kAll, true, false, kDS},
      {"ds.mincap", 0.25, 5, kAll, true, false, kDS},
      {"ds.cf125", 1.25, 1, kAll, true, false, kDS},
      {"ds.nodrop", 1.0, 0, kAll, false, false, kDS},
      {"ds.sampling", 1.0, 0, SecondExpertPolicy::kSampling, true, false, kDS},
      {"fs.random", 1.0, 0, SecondExpertPolicy::kRandom, true, false, kFS},
      {"fs.bpr", 1.0, 0, kAll, true, true, kFS},
      {"fs.random_bpr", 1.0, 0, SecondExpertPolicy::kRandom, true, true, kFS},
  };
  for (const Case& c : cases)
    for (DType dt : {kF64, kF32}) {
      const std::string n = c.name;
      INFO(n << " in " << dt);
      const GShardOptions o = options_of(c);
      Tensor logits = golden()[n + ".logits"].to(dt).clone().requires_grad_();
      const Tensor gumbel = golden().has(n + ".gumbel") ? golden()[n + ".gumbel"].to(dt) : Tensor();
      const Tensor uniform = golden().has(n + ".uniform") ? golden()[n + ".uniform"].to(dt) : Tensor();
      const int64_t C = moe::gshard_capacity(o, c.cf, logits.size(0), logits.size(1));
      CHECK(C == (c.drop_tokens ? golden()[n + ".capacity"].item<int64_t>() : -1));
      RoutingDecision d = moe::gshard_top2_gating(logits, c.cf, o, gumbel, uniform);
      check_equal(d.expert_ids, golden()[n + ".ids"]);
      check_equal(d.kept, golden()[n + ".kept"]);
      check_close(d.weights, golden()[n + ".weights"].to(dt), tol(dt), tol(dt));
      check_close(d.losses.at("load_balancing"), golden()[n + ".l_aux"].to(dt), tol(dt), tol(dt));
      check_close(d.probs, softmax(logits, 1), tol(dt), tol(dt));
      const Tensor R = gather(golden()[n + ".R"].to(dt), 1, d.expert_ids);
      (sum(d.weights * R) + d.losses.at("load_balancing") * 0.3).backward();
      check_close(logits.grad(), golden()[n + ".dlogits"].to(dt), tol(dt), tol(dt));
    }
}

TEST_CASE("moe gshard: invariants of the top-2 placement") {
  Generator g(5);
  for (double cf : {0.3, 0.5, 1.0, 2.0}) {
    INFO("cf " << cf);
    GShardOptions o;
    o.min_capacity = 0;
    const int64_t T = 37, E = 6;
    Tensor logits = randn({T, E}, kF64, &g) + from_vector(std::vector<double>{2, 1, 0, 0, 0, 0}, {1, E});
    RoutingDecision d = moe::gshard_top2_gating(logits, cf, o);
    const int64_t C = moe::gshard_capacity(o, cf, T, E);
    CHECK(C == static_cast<int64_t>(std::ceil(static_cast<double>(T) / E * 2 * cf)));
    // The two choices differ and the first is the argmax of the probabilities.
    CHECK(all(d.expert_ids.select(1, 0) != d.expert_ids.select(1, 1)).item<bool>());
    check_equal(d.expert_ids.select(1, 0), argmax(d.probs, 1));
    Tensor counts = moe::kept_counts(d, E);
    CHECK(max(counts).item<int64_t>() <= C);
    // All first choices are placed before second choices: an expert keeps a second choice only when
    // it kept every first choice sent to it.
    Tensor first = bincount(d.expert_ids.select(1, 0), Tensor(), E);
    Tensor kept_first = bincount(masked_select(d.expert_ids.select(1, 0), d.kept.select(1, 0)), Tensor(), E);
    Tensor kept_second = bincount(masked_select(d.expert_ids.select(1, 1), d.kept.select(1, 1)), Tensor(), E);
    CHECK(all((kept_second == 0) || (kept_first == first)).item<bool>());
    // Weights: g1 + g2 = 1 where anything is kept, 0 where both slots were dropped.
    Tensor s = sum(d.weights, {1});
    check_close(s, any(d.kept, {1}).to(kF64), 1e-12, 1e-12);
  }
  // Empty batch.
  RoutingDecision empty = moe::gshard_top2_gating(zeros({0, 4}), 1.0, GShardOptions{});
  CHECK(empty.expert_ids.shape() == Shape{0, 2});
  CHECK(empty.weights.shape() == Shape{0, 2});
  CHECK(empty.losses.at("load_balancing").item<float>() == 0.0f);
  // A large enough capacity drops nothing.
  GShardOptions o;
  Tensor logits = randn({10, 4}, kF64, &g);
  CHECK(all(moe::gshard_top2_gating(logits, 2.0, o).kept).item<bool>());
}

TEST_CASE("moe gshard: the router module, modes, noise and losses") {
  auto o = opts(5, 4);
  o.load_balance_coef = 0.01;
  GShardOptions gs;
  gs.capacity_factor = 0.5;
  gs.eval_capacity_factor = 2.0;
  gs.min_capacity = 0;
  GShardTop2Router r(o, gs);
  Tensor x = randn({12, 5});
  r.eval();
  CHECK(r.capacity(12) == 12);  // ceil(12 / 4 * 2 * 2)
  RoutingDecision de = r(x);
  RoutingDecision ref = moe::gshard_top2_gating(linear(x, r.weight()), 2.0, gs);
  check_equal(de.expert_ids, ref.expert_ids);
  check_close(de.weights, ref.weights, 1e-6);
  CHECK(de.aux_loss.item<float>() == doctest::Approx(0.01 * ref.losses.at("load_balancing").item<float>()));
  CHECK(de.losses.count("z_loss") == 0);
  r.train();
  CHECK(r.capacity(12) == 3);
  CHECK_FALSE(all(r(x).kept).item<bool>());  // C = 3 for 24 slots
  // Sampling policy: noise only in training, reproducible by seed, equal to the explicit-noise entry.
  gs.second_expert_policy = SecondExpertPolicy::kSampling;
  GShardTop2Router s(o, gs);
  s.load_state_dict(r.state_dict());
  s.eval();
  check_equal(s(x).expert_ids, de.expert_ids);
  s.train();
  s.manual_seed(11);
  RoutingDecision d1 = s(x);
  s.manual_seed(11);
  check_equal(s(x).expert_ids, d1.expert_ids);
  Tensor gumbel = full({12, 4}, 0.0f);
  check_equal(s.route_with_noise(x, gumbel, Tensor()).expert_ids, r(x).expert_ids);
  bool differs = false;
  for (uint64_t seed = 0; seed < 5 && !differs; ++seed) {
    s.manual_seed(seed);
    differs = !equal(s(x).expert_ids.select(1, 1), r(x).expert_ids.select(1, 1));
  }
  CHECK(differs);
  // z-loss is added when its coefficient is set.
  o.z_loss_coef = 0.001;
  GShardTop2Router z(o, gs);
  z.load_state_dict(r.state_dict());
  z.eval();
  RoutingDecision dz = z(x);
  REQUIRE(dz.losses.count("z_loss") == 1);
  CHECK(dz.aux_loss.item<float>() == doctest::Approx(0.01 * dz.losses.at("load_balancing").item<float>() +
                                                     0.001 * dz.losses.at("z_loss").item<float>()));
}

TEST_CASE("moe gshard: f64 gradcheck through the router weight and the tokens") {
  auto o = opts(4, 4, kF64);
  o.load_balance_coef = 0.1;
  GShardOptions gs;
  gs.capacity_factor = 0.5;
  gs.min_capacity = 0;
  GShardTop2Router r(o, gs);
  Tensor w = r.weight().detach().clone().requires_grad_();
  Tensor x = testing::strided_leaf64({9, 4});
  CHECK(testing::gradcheck1([&](const std::vector<Tensor>& in) {
    return nn::functional_call(r, {{"weight", in[0]}}, [&] {
      RoutingDecision d = r(in[1]);
      return sum(d.weights * d.weights * arange(0, 18, 1, kF64).view({9, 2})) + d.aux_loss;
    });
  }, {w, x}));
}

TEST_CASE("moe gshard: bad options and inputs are errors") {
  CHECK_MOELAB_ERROR(GShardTop2Router([] {
                       auto o = opts(4, 4);
                       o.top_k = 1;
                       return o;
                     }()),
                     "top_k must be 2");
  GShardOptions bad;
  bad.capacity_factor = 0;
  CHECK_MOELAB_ERROR(GShardTop2Router(opts(4, 4), bad), "capacity_factor");
  bad.capacity_factor = 1;
  bad.min_capacity = -1;
  CHECK_MOELAB_ERROR(GShardTop2Router(opts(4, 4), bad), "min_capacity");
  GShardOptions o;
  Tensor logits = randn({6, 4});
  CHECK_MOELAB_ERROR(moe::gshard_top2_gating(randn({6, 1}), 1.0, o), "at least 2 experts");
  CHECK_MOELAB_ERROR(moe::gshard_top2_gating(randn({6}), 1.0, o), "[T, E]");
  CHECK_MOELAB_ERROR(moe::gshard_top2_gating(ones({6, 4}, kI64), 1.0, o), "f32 or f64");
  CHECK_MOELAB_ERROR(moe::gshard_top2_gating(logits, 1.0, o, randn({6, 4})), "kSampling");
  CHECK_MOELAB_ERROR(moe::gshard_top2_gating(logits, 1.0, o, Tensor(), rand({6})), "kRandom");
  o.second_expert_policy = SecondExpertPolicy::kRandom;
  CHECK_MOELAB_ERROR(moe::gshard_top2_gating(logits, 1.0, o, Tensor(), rand({5})), "uniform must be [T]");
  o.second_expert_policy = SecondExpertPolicy::kSampling;
  CHECK_MOELAB_ERROR(moe::gshard_top2_gating(logits, 1.0, o, randn({6, 3})), "gumbel of shape");
  CHECK_MOELAB_ERROR(moe::gshard_top2_gating(logits, -1.0, o), "capacity_factor");
  GShardTop2Router r(opts(4, 4));
  CHECK_MOELAB_ERROR(r(randn({5, 3})), "d_model = 4");
  CHECK_MOELAB_ERROR(r.route_with_noise(randn({5, 3}), Tensor(), Tensor()), "d_model = 4");
}
