// Pad-free MoE dispatch and combine: the (token, slot) pairs chosen by a router are sorted by expert
// with a stable counting sort, each expert's rows then form one contiguous segment of the
// dispatched [N, d] tensor (N = number of kept slots), and combine scatter-adds the weighted expert
// outputs back to token order. No one-hot [T, E, C] tensors, no padding to a capacity.
//
//   DispatchPlan plan = plan_dispatch(decision.expert_ids, E, decision.kept);
//   Tensor xs = dispatch(x, plan);                                // [N, d], expert-major
//   Tensor h = grouped_matmul(xs, w1, plan.offsets_cpu);          // per-expert segments
//   Tensor y = combine(h2, decision.weights, plan, x.size(0));    // [T, d]
#pragma once
#include <cstdint>
#include <vector>

#include "moelab/core/tensor.h"

namespace moelab::moe {

// Where every kept (token, slot) pair goes. Slot s = t * k + j is the j-th choice of token t.
struct DispatchPlan {
  Tensor order;     // i64 [N]: the flat slot index t*k+j of each dispatched row, expert-major;
                    // within one expert, rows keep token order (stable)
  Tensor token_of;  // i64 [N]: the source token of each row (order / k)
  Tensor row_of;    // i64 [T*k]: the row of each slot, -1 where the slot was dropped
  Tensor offsets;   // i64 [E+1]: expert e owns rows offsets[e] .. offsets[e+1]
  Tensor counts;    // i64 [E]: rows per expert
  std::vector<int64_t> offsets_cpu;  // the same offsets, for host-side loops
  int64_t num_tokens = 0;
  int64_t top_k = 0;
  int64_t num_experts = 0;
  int64_t num_rows() const { return offsets_cpu.empty() ? 0 : offsets_cpu.back(); }
};

// Sorts the T*k slots of expert_ids ([T, k], i64 or i32, values in [0, num_experts)) by expert,
// stably, skipping slots where `kept` ([T, k] bool, optional) is false. O(T*k + E).
DispatchPlan plan_dispatch(const Tensor& expert_ids, int64_t num_experts, const Tensor& kept = Tensor());

// x [T, d] -> [N, d]: row r is x[plan.token_of[r]]. Backward adds the row gradients back into [T, d].
Tensor dispatch(const Tensor& x, const DispatchPlan& plan);

// y [N, d], weights [T, k] -> [T, d]: out[t] = sum over kept j of weights[t, j] * y[row_of[t*k+j]];
// a dropped slot contributes 0 (its weight gets a zero gradient). Weights are cast to y's dtype
// (routers produce f32 weights whatever the model dtype). Differentiable in y and weights, to any
// order. num_tokens must equal plan.num_tokens (it is passed for readability and checked).
Tensor combine(const Tensor& y, const Tensor& weights, const DispatchPlan& plan, int64_t num_tokens);

}  // namespace moelab::moe
