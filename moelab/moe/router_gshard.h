// GShard top-2 gating with capacity, exactly as DeepSpeed's top2gating and fairseq's top2gating
// compute it (see docs/moe.md, "Capacity and GShard top-2"):
//   gates = softmax(logits) (fp32; f64 stays f64), idx1 = argmax(gates),
//   idx2 = argmax(logits [+ Gumbel noise] masked at idx1),
//   'random' policy: the second expert is kept iff 2 * g2 > U(0, 1) (a dropped one takes no room),
//   C = max(ceil(T/E * 2 * cf), min_capacity), all first choices placed before all second choices,
//   overflow dropped, g1, g2 divided by clamp(g1 + g2, eps) after dropping,
//   loss "load_balancing" = mean_e(me * ce) * E^2 from the first choices (before dropping).
#pragma once
#include <cstdint>

#include "moelab/moe/capacity.h"
#include "moelab/moe/router.h"

namespace moelab::moe {

enum class SecondExpertPolicy {
  kAll,       // always route to the second expert (DeepSpeed with top2_2nd_expert_sampling = False)
  kRandom,    // keep the second iff 2 * g2 > U(0, 1) (GShard; fairseq 'random')
  kSampling,  // choose the second by argmax(logits + Gumbel) (fairseq 'sampling'; DeepSpeed's default
              // top2_2nd_expert_sampling = True)
};

struct GShardOptions {
  double capacity_factor = 1.0;       // training mode
  double eval_capacity_factor = 1.0;  // eval mode (DeepSpeed's eval_capacity_factor)
  int64_t min_capacity = 4;           // DeepSpeed MoE's default
  SecondExpertPolicy second_expert_policy = SecondExpertPolicy::kAll;
  bool drop_tokens = true;            // false: no capacity (DeepSpeed drop_tokens = False); still renormalised
  bool batch_prioritized = false;     // fairseq batch_prioritized_routing: placement in descending max-gate order
  CapacityFormula formula = CapacityFormula::kDeepSpeed;  // kTutel with cf = 1 gives fairseq's 2 * ceil(T/E)
};

// The gating function on given router logits [T, E] (f32 or f64, E >= 2), with explicit noise:
// gumbel [T, E] is added to the logits for the second choice (only with kSampling; undefined: none),
// uniform [T] in [0, 1) decides the second expert (only with kRandom; undefined: every second kept).
// Returns ids [T, 2] (slot 0 = idx1), weights [T, 2] (renormalised, 0 where dropped), kept, logits,
// probs (= gates), losses {"load_balancing"} (unweighted) and aux_loss = that loss.
RoutingDecision gshard_top2_gating(const Tensor& logits, double capacity_factor, const GShardOptions& options,
                                   const Tensor& gumbel = Tensor(), const Tensor& uniform = Tensor());

// C for T tokens and E experts under `options` at capacity factor cf; -1 when drop_tokens is false.
int64_t gshard_capacity(const GShardOptions& options, double capacity_factor, int64_t num_tokens, int64_t num_experts);

// DeepSpeed's TopKGate with k = 2: logits = x W^T, W [E, d_model] without bias (DeepSpeed's wg),
// then gshard_top2_gating. Noise (policy kRandom / kSampling) is drawn from the router's generator
// in training mode only; eval mode uses eval_capacity_factor and no noise (kRandom keeps every
// second expert, kSampling takes the plain argmax). opts.top_k must be 2; the load-balancing loss is
// always reported (first-choice normalisation, whatever opts.load_balance_norm says) and weighted by
// opts.load_balance_coef; z-loss as in the Router base.
class GShardTop2Router : public Router {
 public:
  GShardTop2Router(const RouterOptions& opts, const GShardOptions& gshard = {});
  RoutingDecision route(const Tensor& x) override;
  // route() with explicit noise (for tests): gumbel [T, E], uniform [T], as gshard_top2_gating.
  RoutingDecision route_with_noise(const Tensor& x, const Tensor& gumbel, const Tensor& uniform);
  const Tensor& weight() const { return weight_; }
  const GShardOptions& gshard_options() const { return gshard_; }
  // The capacity for T tokens in the current mode (-1 when drop_tokens is false).
  int64_t capacity(int64_t num_tokens) const;

 private:
  RoutingDecision finish(RoutingDecision d);
  void check_tokens(const Tensor& x) const;
  GShardOptions gshard_;
  Tensor& weight_;
};

}  // namespace moelab::moe
