// Expert capacity: how many (token, slot) pairs each expert may take, and which ones are dropped
// when more arrive. Dropless (factor 0) is the default everywhere; a dropped slot gets kept = false
// and contributes nothing to the MoE output, so the token passes through the residual only.
#pragma once
#include <cstdint>

#include "moelab/moe/router.h"

namespace moelab::moe {

enum class DropPolicy {
  kPosition,  // first come, first served in token order, slot 0 of every token before slot 1, ... (GShard)
  kScore,     // each expert keeps its C highest-weight slots (Megatron 'probs', batch-prioritised routing)
};

struct CapacityOptions {
  double factor = 0.0;       // 0: dropless. Otherwise C = max(ceil(factor * T * k / E), min_capacity)
  int64_t min_capacity = 0;  // lower bound on C (DeepSpeed's min_capacity)
  DropPolicy policy = DropPolicy::kPosition;
  bool renormalize = false;  // divide each token's kept weights by their sum after dropping (GShard top-2)
};

// The capacity C for T tokens, k slots each, E experts; -1 when options.factor is 0 (dropless).
int64_t expert_capacity(const CapacityOptions& options, int64_t num_tokens, int64_t top_k, int64_t num_experts);

// Marks the slots over capacity as dropped (decision.kept) and zeroes their weights, renormalising
// the rest when asked. A no-op for factor 0. The aux losses in the decision are left as they are
// (computed before dropping, as in every reference system).
void apply_capacity(RoutingDecision& decision, int64_t num_experts, const CapacityOptions& options);

}  // namespace moelab::moe
