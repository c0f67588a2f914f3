// Expert capacity: apply_capacity / capacity_mask against Megatron-Core's topk_softmax_with_capacity
// ('probs' and 'position') and GShard's position order for top-k (tests/golden/gen_moe_capacity.py),
// plus invariants, gradients and errors.
#include <algorithm>
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
using moe::CapacityOptions;
using moe::DropPolicy;
using moe::RoutingDecision;

namespace {

const Golden& golden() { return Golden::get("moe_capacity"); }
double tol(DType dt) { return dt == kF64 ? 1e-12 : 2e-6; }

// A decision of softmax-then-top-k (pre = true) or top-k-then-softmax routing of the logits.
RoutingDecision topk_decision(const Tensor& logits, int64_t k, bool pre) {
  RoutingDecision d;
  d.logits = logits;
  d.probs = softmax(logits, 1);
  if (pre) {
    auto [w, ids] = topk(d.probs, k, 1);
    d.weights = w;
    d.expert_ids = ids;
  } else {
    auto [l, ids] = topk(logits, k, 1);
    d.weights = softmax(l, 1);
    d.expert_ids = ids;
  }
  d.kept = ones({logits.size(0), k}, kBool);
  return d;
}

RoutingDecision random_decision(int64_t T, int64_t E, int64_t k, uint64_t seed, DType dt = kF64) {
  Generator g(seed);
  Tensor logits = randn({T, E}, dt, &g);
  Tensor bias = zeros({E}, dt);
  bias.narrow(0, 0, 1).fill_(1.5);  // crowd expert 0
  return topk_decision(logits + bias, k, true);
}

std::vector<int64_t> to_vec(const Tensor& t) {
  Tensor c = t.to(kI64).contiguous().reshape({-1});
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

}  // namespace

TEST_CASE("moe capacity: Megatron probs and position drop policies match the reference with gradients") {
  struct Case {
    const char* name;
    int64_t k;
    double cf;
    DropPolicy policy;
    bool pre;
  };
  for (const Case& c : {Case{"mg.probs.k2", 2, 1.0, DropPolicy::kScore, true},
                        Case{"mg.probs.k3", 3, 0.75, DropPolicy::kScore, false},
                        Case{"mg.position.k2", 2, 1.0, DropPolicy::kTokenOrder, true},
                        Case{"mg.position.k3", 3, 0.75, DropPolicy::kTokenOrder, false}})
    for (DType dt : {kF64, kF32}) {
      const std::string n = c.name;
      INFO(n << " in " << dt);
      Tensor logits = golden()[n + ".logits"].to(dt).clone().requires_grad_();
      const int64_t T = logits.size(0), E = logits.size(1);
      CapacityOptions o;
      o.factor = c.cf;
      o.policy = c.policy;
      CHECK(moe::expert_capacity(o, T, c.k, E) == golden()[n + ".capacity"].item<int64_t>());
      RoutingDecision d = topk_decision(logits, c.k, c.pre);
      check_equal(d.expert_ids, golden()[n + ".ids"]);
      moe::apply_capacity(d, E, o);
      check_equal(d.kept, golden()[n + ".kept"]);
      check_close(d.weights, golden()[n + ".weights"].to(dt), tol(dt), tol(dt));
      sum(d.weights * golden()[n + ".R"].to(dt)).backward();
      check_close(logits.grad(), golden()[n + ".dlogits"].to(dt), tol(dt), tol(dt));
    }
}

TEST_CASE("moe capacity: GShard position order for top-k matches the reference, renormalised or not") {
  for (const char* name : {"gp.k2.C3", "gp.k3.C4", "gp.k3.C2"})
    for (DType dt : {kF64, kF32}) {
      const std::string n = name;
      INFO(n << " in " << dt);
      Tensor logits = golden()[n + ".logits"].to(dt).clone().requires_grad_();
      const int64_t k = golden()[n + ".ids"].size(1);
      RoutingDecision d = topk_decision(logits, k, true);
      moe::apply_capacity(d, logits.size(1), golden()[n + ".capacity"].item<int64_t>(), DropPolicy::kPosition,
                          golden()[n + ".renormalize"].item<bool>());
      check_equal(d.kept, golden()[n + ".kept"]);
      check_close(d.weights, golden()[n + ".weights"].to(dt), tol(dt), tol(dt));
      sum(d.weights * golden()[n + ".R"].to(dt)).backward();
      check_close(logits.grad(), golden()[n + ".dlogits"].to(dt), tol(dt), tol(dt));
    }
}

TEST_CASE("moe capacity: capacity formulas of Megatron, DeepSpeed and Tutel/fairseq") {
  CapacityOptions o;
  CHECK(moe::expert_capacity(o, 100, 2, 8) == -1);  // dropless
  o.factor = 1.0;
  CHECK(moe::expert_capacity(o, 100, 2, 8) == 25);  // ceil(200 / 8)
  o.factor = 1.1;
  CHECK(moe::expert_capacity(o, 100, 2, 8) == 28);  // ceil(27.5)
  o.min_capacity = 30;
  CHECK(moe::expert_capacity(o, 100, 2, 8) == 30);
  o.min_capacity = 0;
  o.formula = CapacityFormula::kDeepSpeed;
  CHECK(moe::expert_capacity(o, 100, 2, 8) == 28);  // ceil(12.5 * 2.2)
  o.formula = CapacityFormula::kTutel;
  CHECK(moe::expert_capacity(o, 100, 2, 8) == 28);  // 2 * int(1.1 * 13)
  o.factor = 1.0;
  CHECK(moe::expert_capacity(o, 10, 2, 4) == 6);  // fairseq top-2: 2 * ceil(10 / 4)
  o.formula = CapacityFormula::kMegatron;
  CHECK(moe::expert_capacity(o, 10, 2, 4) == 5);  // ceil(20 / 4)
  CHECK(moe::expert_capacity(o, 0, 2, 4) == 0);
  // fp32 rounding: DeepSpeed's torch.ceil((25 / 4) * torch.tensor(1.2 * 2)) is 16, Megatron's
  // math.ceil((50 / 4) * 1.2) is 15 (values from PyTorch 1.13).
  o.factor = 1.2;
  CHECK(moe::expert_capacity(o, 25, 2, 4) == 15);
  o.formula = CapacityFormula::kDeepSpeed;
  CHECK(moe::expert_capacity(o, 25, 2, 4) == 16);
  CHECK(moe::expert_capacity(o, 35, 2, 3) == 29);
}

TEST_CASE("moe capacity: invariants for every drop policy") {
  for (DropPolicy policy : {DropPolicy::kPosition, DropPolicy::kScore, DropPolicy::kTokenOrder, DropPolicy::kBatchPriority})
    for (int64_t k : {1, 2, 3})
      for (int64_t C : {0, 1, 3, 7, 40}) {
        INFO("policy " << static_cast<int>(policy) << " k " << k << " C " << C);
        const int64_t T = 29, E = 5;
        RoutingDecision d = random_decision(T, E, k, 100 + static_cast<uint64_t>(k));
        const Tensor w0 = d.weights;
        const std::vector<int64_t> before = to_vec(moe::kept_counts(d, E));
        moe::apply_capacity(d, E, C, policy);
        const std::vector<int64_t> after = to_vec(moe::kept_counts(d, E));
        int64_t expect_total = 0, total = 0;
        for (int64_t e = 0; e < E; ++e) {
          CHECK(after[static_cast<size_t>(e)] <= C);  // no expert above C
          CHECK(after[static_cast<size_t>(e)] == std::min(before[static_cast<size_t>(e)], C));
          expect_total += std::min(before[static_cast<size_t>(e)], C);
          total += after[static_cast<size_t>(e)];
        }
        CHECK(total == expect_total);
        CHECK(sum(d.kept.to(kI64)).item<int64_t>() == expect_total);
        // Dropped slots weigh 0, kept ones keep their weight.
        check_equal(d.weights, where(d.kept, w0, zeros_like(w0)));
        if (C >= T * k) check_equal(d.kept, ones({T, k}, kBool));  // dropless when C >= T*k
        if (policy == DropPolicy::kScore) {
          // Within an expert, every kept slot weighs at least as much as every dropped one.
          const std::vector<int64_t> ids = to_vec(d.expert_ids), kept = to_vec(d.kept);
          Tensor wc = w0.contiguous();
          const double* wp = wc.data_ptr<double>();
          for (int64_t e = 0; e < E; ++e) {
            double min_kept = 1e9, max_dropped = -1e9;
            for (size_t s = 0; s < ids.size(); ++s)
              if (ids[s] == e) (kept[s] ? min_kept : max_dropped) = kept[s] ? std::min(min_kept, wp[s])
                                                                            : std::max(max_dropped, wp[s]);
            CHECK(min_kept >= max_dropped);
          }
        }
      }
}

TEST_CASE("moe capacity: position orders, ties and slots that are already dropped") {
  // Tokens 0..3 all pick expert 0 first and expert 1 second; C = 2.
  RoutingDecision d;
  d.expert_ids = from_vector(std::vector<int64_t>{0, 1, 0, 1, 1, 0, 0, 1}, {4, 2});
  d.weights = from_vector(std::vector<double>{0.6, 0.4, 0.5, 0.5, 0.7, 0.3, 0.6, 0.4}, {4, 2});
  d.kept = ones({4, 2}, kBool);
  auto mask = [&](DropPolicy p, const Tensor& kept = Tensor()) {
    return to_vec(moe::capacity_mask(d.expert_ids, d.weights, kept, 2, 2, p));
  };
  // GShard: first choices (t0, t1 -> e0; t2 -> e1; t3 -> e0 over) then second choices.
  CHECK(mask(DropPolicy::kPosition) == std::vector<int64_t>{1, 1, 1, 0, 1, 0, 0, 0});
  // Megatron position: token order over all slots: e0 gets t0 slot 0, t1 slot 0; e1 gets t0 and t1 slot 1.
  CHECK(mask(DropPolicy::kTokenOrder) == std::vector<int64_t>{1, 1, 1, 1, 0, 0, 0, 0});
  // Score: e0 candidates 0.6 (t0), 0.5 (t1), 0.3 (t2), 0.6 (t3) -> t0, t3 (tie 0.6: both kept);
  // e1: 0.4 (t0), 0.5 (t1), 0.7 (t2), 0.4 (t3) -> t2, t1.
  CHECK(mask(DropPolicy::kScore) == std::vector<int64_t>{1, 0, 0, 1, 1, 0, 1, 0});
  // Batch priority: tokens by max weight 0.7 (t2), 0.6 (t0), 0.6 (t3), 0.5 (t1): first choices t2 -> e1,
  // t0 -> e0, t3 -> e0; then second choices t2 -> e0 (full), t0 -> e1, t3 -> e1 (full).
  CHECK(mask(DropPolicy::kBatchPriority) == std::vector<int64_t>{1, 1, 0, 0, 1, 0, 1, 0});
  // Equal weights: kScore keeps the lowest token indices.
  d.weights = full({4, 2}, 0.5, kF64);
  CHECK(mask(DropPolicy::kScore) == std::vector<int64_t>{1, 1, 1, 1, 0, 0, 0, 0});
  CHECK(mask(DropPolicy::kBatchPriority) == mask(DropPolicy::kPosition));
  // A slot that is already dropped takes no room: t0's first choice is out, so t3 gets e0.
  Tensor pre = ones({4, 2}, kBool);
  pre.narrow(0, 0, 1).narrow(1, 0, 1).fill_(false);
  CHECK(mask(DropPolicy::kPosition, pre) == std::vector<int64_t>{0, 1, 1, 0, 1, 0, 1, 0});
}

TEST_CASE("moe capacity: renormalisation, eps clamp, dropless no-op, empty batch, strided inputs") {
  RoutingDecision d = random_decision(12, 4, 2, 7);
  RoutingDecision same = d;
  moe::apply_capacity(same, 4, CapacityOptions{});  // factor 0: nothing changes
  CHECK(same.weights.is_same(d.weights));
  // Renormalised kept weights sum to 1 per token, and to 0 (not NaN) when both slots are dropped.
  moe::apply_capacity(d, 4, 2, DropPolicy::kPosition, /*renormalize=*/true);
  const Tensor s = sum(d.weights, {1});
  const Tensor any_kept = any(d.kept, {1});
  check_close(s, where(any_kept, ones_like(s), zeros_like(s)), 1e-12, 1e-12);
  CHECK_FALSE(all(any_kept).item<bool>());  // the case above includes tokens with every slot dropped
  // renormalize_kept clamps at eps: tiny sums are not blown up.
  Tensor tiny = from_vector(std::vector<float>{1e-9f, 0.0f}, {1, 2});
  check_close(moe::renormalize_kept(tiny, ones({1, 2}, kBool)), tiny / 1.1920929e-07f, 1e-6, 0);
  // Empty batch.
  RoutingDecision e = topk_decision(zeros({0, 4}), 2, true);
  CapacityOptions o;
  o.factor = 1.0;
  moe::apply_capacity(e, 4, o);
  CHECK(e.kept.shape() == Shape{0, 2});
  // Non-contiguous ids / weights / kept give the same mask as contiguous ones.
  RoutingDecision r = random_decision(10, 4, 3, 9);
  for (DropPolicy p : {DropPolicy::kPosition, DropPolicy::kScore, DropPolicy::kBatchPriority}) {
    Tensor ids_t = r.expert_ids.t().contiguous().t(), w_t = r.weights.t().contiguous().t();
    Tensor k_t = r.kept.t().contiguous().t();
    REQUIRE_FALSE(ids_t.is_contiguous());
    check_equal(moe::capacity_mask(ids_t, w_t, k_t, 4, 3, p), moe::capacity_mask(r.expert_ids, r.weights, r.kept, 4, 3, p));
  }
}

TEST_CASE("moe capacity: f64 gradcheck through capacity dropping and renormalisation") {
  // A transposed (non-contiguous) leaf with expert 0 favoured, so that capacity bites.
  Tensor logits = (randn({4, 9}, kF64) + from_vector(std::vector<double>{1.0, 0.0, 0.0, 0.0}, {4, 1})).t();
  logits.requires_grad_();
  for (DropPolicy p : {DropPolicy::kPosition, DropPolicy::kScore})
    for (bool ren : {false, true}) {
      INFO("policy " << static_cast<int>(p) << " renormalize " << ren);
      CHECK(testing::gradcheck1([&](const std::vector<Tensor>& in) {
        RoutingDecision d = topk_decision(in[0], 2, true);
        moe::apply_capacity(d, 4, 3, p, ren);
        return sum(d.weights * d.weights * arange(0, 18, 1, kF64).view({9, 2}));
      }, {logits}));
    }
}

TEST_CASE("moe capacity: bad options and inputs are errors") {
  RoutingDecision d = random_decision(6, 4, 2, 3);
  CapacityOptions o;
  o.factor = -1;
  CHECK_MOELAB_ERROR(moe::apply_capacity(d, 4, o), "factor");
  o.factor = 1;
  o.min_capacity = -2;
  CHECK_MOELAB_ERROR(moe::apply_capacity(d, 4, o), "min_capacity");
  CHECK_MOELAB_ERROR(moe::apply_capacity(d, 4, -1, DropPolicy::kPosition), "capacity must be >= 0");
  CHECK_MOELAB_ERROR(moe::apply_capacity(d, 0, 2, DropPolicy::kPosition), "num_experts");
  CHECK_MOELAB_ERROR(moe::apply_capacity(d, 2, 2, DropPolicy::kPosition), "out of range");
  CHECK_MOELAB_ERROR(moe::capacity_mask(d.expert_ids, Tensor(), Tensor(), 4, 2, DropPolicy::kScore), "weights");
  CHECK_MOELAB_ERROR(moe::capacity_mask(d.expert_ids, d.weights, ones({6, 3}, kBool), 4, 2, DropPolicy::kPosition),
                     "kept of shape");
  CHECK_MOELAB_ERROR(moe::capacity_mask(d.expert_ids, d.weights, ones({6, 2}), 4, 2, DropPolicy::kPosition), "bool");
  CHECK_MOELAB_ERROR(moe::capacity_mask(d.expert_ids.to(kF32), d.weights, Tensor(), 4, 2, DropPolicy::kPosition),
                     "i64 or i32");
  CHECK_MOELAB_ERROR(moe::capacity_mask(d.expert_ids, d.weights.narrow(0, 0, 3), Tensor(), 4, 2, DropPolicy::kScore),
                     "do not match");
  CHECK_MOELAB_ERROR(moe::renormalize_kept(d.weights, ones({6, 2})), "renormalize_kept");
}
