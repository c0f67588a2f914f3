#include "moelab/moe/capacity.h"

#include <cmath>

namespace moelab::moe {

int64_t expert_capacity(const CapacityOptions& o, int64_t num_tokens, int64_t top_k, int64_t num_experts) {
  MOELAB_CHECK(o.factor >= 0, "expert_capacity: factor must be >= 0, got ", o.factor);
  MOELAB_CHECK(o.min_capacity >= 0, "expert_capacity: min_capacity must be >= 0, got ", o.min_capacity);
  MOELAB_CHECK(num_experts > 0, "expert_capacity: num_experts must be positive, got ", num_experts);
  if (o.factor == 0.0) return -1;
  double c = std::ceil(o.factor * static_cast<double>(num_tokens * top_k) / static_cast<double>(num_experts));
  return std::max(static_cast<int64_t>(c), o.min_capacity);
}

void apply_capacity(RoutingDecision& decision, int64_t num_experts, const CapacityOptions& o) {
  if (expert_capacity(o, decision.num_tokens(), decision.top_k(), num_experts) < 0) return;
  MOELAB_FAIL("apply_capacity: capacity factors other than 0 are being implemented (issue #5)");
}

}  // namespace moelab::moe
