// Expert capacity: how many (token, slot) pairs each expert may take, and which ones are dropped
// when more arrive. Dropless (factor 0) is the default everywhere; a dropped slot gets kept = false
// and contributes nothing to the MoE output, so the token passes through the residual only.
//
// Everything here runs on the host in O(T*k + E) (kScore: expected O(T*k + E) with nth_element;
// kBatchPriority: O(T log T) for the token sort). No one-hot [T, E] or [T, E, C] tensors are built.
#pragma once
#include <cstdint>

#include "moelab/moe/router.h"

namespace moelab::moe {

// Which slots an expert keeps when more than C arrive. A slot that is already not kept (a variable-k
// router's unused slot, or a second expert dropped by GShard's random policy) takes no room.
enum class DropPolicy {
  // GShard / DeepSpeed / fairseq order: slot 0 of every token in token order first, then slot 1 of
  // every token, ...; each expert keeps the first C. (For k = 2 this is DeepSpeed top2gating's
  // loc2 = cumsum(mask2) - 1 + sum(mask1).)
  kPosition,
  // Each expert keeps its C highest-weight slots, ties to the lower token index (then lower slot).
  // Megatron-Core drop_policy = 'probs'.
  kScore,
  // Megatron-Core drop_policy = 'position': each expert keeps the first C slots in token order,
  // whatever the slot (a token's second choice can beat a later token's first choice).
  kTokenOrder,
  // Batch-prioritised routing (V-MoE; fairseq batch_prioritized_routing): as kPosition, but tokens are
  // visited in descending order of their largest kept weight (ties to the lower token index).
  kBatchPriority,
};

// How C follows from the capacity factor cf (T tokens, k slots each, E experts). All of them are then
// raised to min_capacity.
enum class CapacityFormula {
  kMegatron,   // ceil((T*k / E) * cf), in double. Megatron-Core get_capacity(T*k, E, cf).
  kDeepSpeed,  // ceil(float(T / E) * float(k * cf)) in fp32 as DeepSpeed's _capacity computes it
               // (top1: k = 1; top2gating passes cf * 2). Equal to kMegatron but for fp32 rounding.
  kTutel,      // k * floor(cf * ceil(T / E)) (Tutel; fairseq top-2 is this with cf = 1: 2 * ceil(T/E),
               // fairseq top-1 is k = 1: int(cf * ceil(T/E))).
};

struct CapacityOptions {
  double factor = 0.0;       // 0: dropless. Otherwise C from `formula`, at least min_capacity
  int64_t min_capacity = 0;  // lower bound on C (DeepSpeed's min_capacity)
  DropPolicy policy = DropPolicy::kPosition;
  bool renormalize = false;  // divide each token's kept weights by their sum after dropping (GShard top-2)
  CapacityFormula formula = CapacityFormula::kMegatron;
};

// The capacity C for T tokens, k slots each, E experts; -1 when options.factor is 0 (dropless).
int64_t expert_capacity(const CapacityOptions& options, int64_t num_tokens, int64_t top_k, int64_t num_experts);

// Marks the slots over capacity as dropped (decision.kept) and zeroes their weights, renormalising
// the rest when asked. A no-op for factor 0. The aux losses in the decision are left as they are
// (computed before dropping, as in every reference system).
// The weights are masked with differentiable ops (weights * kept), so a dropped slot's weight gets a
// zero gradient and a kept one its ordinary gradient.
void apply_capacity(RoutingDecision& decision, int64_t num_experts, const CapacityOptions& options);

// The same with an explicit capacity C >= 0 (C is not recomputed from a factor).
void apply_capacity(RoutingDecision& decision, int64_t num_experts, int64_t capacity, DropPolicy policy,
                    bool renormalize = false);

// The kept mask alone: bool [T, k], false where `kept` (bool [T, k], optional: all true) is false or
// the slot overflows capacity C under `policy`. expert_ids i64/i32 [T, k] in [0, E); weights [T, k]
// floating (read for kScore and kBatchPriority only; may be undefined for the others).
Tensor capacity_mask(const Tensor& expert_ids, const Tensor& weights, const Tensor& kept, int64_t num_experts,
                     int64_t capacity, DropPolicy policy);

// weights [T, k] masked by kept (bool [T, k]) and, per token, divided by clamp(sum of the kept
// weights, eps): GShard / DeepSpeed's denom_s = clamp(g1 + g2, finfo.eps). eps < 0 means the machine
// epsilon of weights' dtype, as DeepSpeed. Differentiable (to any order).
Tensor renormalize_kept(const Tensor& weights, const Tensor& kept, double eps = -1.0);

// Kept slots per expert: i64 [E] (the bincount of expert_ids over kept slots).
Tensor kept_counts(const RoutingDecision& decision, int64_t num_experts);

}  // namespace moelab::moe
