#include "moelab/moe/dispatch.h"

#include "moelab/autograd/grad_mode.h"
#include "moelab/core/error.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/indexing.h"

namespace moelab::moe {

DispatchPlan plan_dispatch(const Tensor& expert_ids, int64_t num_experts, const Tensor& kept) {
  MOELAB_CHECK(expert_ids.defined(), "plan_dispatch: expert_ids is undefined");
  MOELAB_CHECK(expert_ids.dim() == 2, "plan_dispatch: expert_ids must be [T, k], got shape ", expert_ids.shape());
  MOELAB_CHECK(expert_ids.dtype() == kI64 || expert_ids.dtype() == kI32,
               "plan_dispatch: expert_ids must be i64 or i32, got ", expert_ids.dtype());
  MOELAB_CHECK(expert_ids.device().is_cpu(), "plan_dispatch: expert_ids must be on the CPU, got ",
               expert_ids.device());
  MOELAB_CHECK(num_experts >= 1, "plan_dispatch: num_experts must be >= 1, got ", num_experts);
  if (kept.defined()) {
    MOELAB_CHECK(kept.dtype() == kBool, "plan_dispatch: kept must be bool, got ", kept.dtype());
    MOELAB_CHECK(kept.shape() == expert_ids.shape(), "plan_dispatch: kept of shape ", kept.shape(),
                 " does not match expert_ids of shape ", expert_ids.shape());
    MOELAB_CHECK(kept.device().is_cpu(), "plan_dispatch: kept must be on the CPU, got ", kept.device());
  }
  autograd::NoGradGuard no_grad;
  const int64_t T = expert_ids.size(0), k = expert_ids.size(1), S = T * k, E = num_experts;
  const Tensor ids_t = expert_ids.to(kI64).contiguous();
  const int64_t* ids = ids_t.data_ptr<int64_t>();
  Tensor kept_t = kept.defined() ? kept.contiguous() : Tensor();
  const bool* keep = kept_t.defined() ? kept_t.data_ptr<bool>() : nullptr;

  // Pass 1: validate and count. Pass 2: place each kept slot at its expert's cursor (stable).
  DispatchPlan p;
  p.num_tokens = T;
  p.top_k = k;
  p.num_experts = E;
  p.offsets_cpu.assign(static_cast<size_t>(E + 1), 0);
  for (int64_t s = 0; s < S; ++s) {
    const int64_t e = ids[s];
    MOELAB_CHECK(e >= 0 && e < E, "plan_dispatch: expert id ", e, " at [", s / k, ", ", s % k,
                 "] is out of range for num_experts = ", E, " (expert_ids shape ", expert_ids.shape(), ")");
    if (!keep || keep[s]) ++p.offsets_cpu[static_cast<size_t>(e + 1)];
  }
  p.counts = make_empty({E}, kI64);
  int64_t* counts = p.counts.data_ptr<int64_t>();
  for (int64_t e = 0; e < E; ++e) {
    counts[e] = p.offsets_cpu[static_cast<size_t>(e + 1)];
    p.offsets_cpu[static_cast<size_t>(e + 1)] += p.offsets_cpu[static_cast<size_t>(e)];
  }
  const int64_t N = p.offsets_cpu.back();
  p.order = make_empty({N}, kI64);
  p.token_of = make_empty({N}, kI64);
  p.row_of = make_empty({S}, kI64);
  int64_t* order = p.order.data_ptr<int64_t>();
  int64_t* token_of = p.token_of.data_ptr<int64_t>();
  int64_t* row_of = p.row_of.data_ptr<int64_t>();
  std::vector<int64_t> cursor(p.offsets_cpu.begin(), p.offsets_cpu.end() - 1);
  for (int64_t s = 0; s < S; ++s) {
    if (keep && !keep[s]) {
      row_of[s] = -1;
      continue;
    }
    const int64_t r = cursor[static_cast<size_t>(ids[s])]++;
    order[r] = s;
    token_of[r] = s / k;
    row_of[s] = r;
  }
  p.offsets = from_vector(p.offsets_cpu, {E + 1});
  return p;
}

namespace {

void check_plan(const DispatchPlan& plan, const char* op) {
  MOELAB_CHECK(plan.order.defined() && static_cast<int64_t>(plan.offsets_cpu.size()) == plan.num_experts + 1,
               op, ": the plan is empty; make it with plan_dispatch");
}

}  // namespace

Tensor dispatch(const Tensor& x, const DispatchPlan& plan) {
  check_plan(plan, "dispatch");
  MOELAB_CHECK(x.defined(), "dispatch: x is undefined");
  MOELAB_CHECK(x.dim() == 2 && x.size(0) == plan.num_tokens, "dispatch: x must be [T, d] with T = ", plan.num_tokens,
               " tokens of the plan, got shape ", x.shape());
  return index_select(x, 0, plan.token_of);
}

Tensor combine(const Tensor& y, const Tensor& weights, const DispatchPlan& plan, int64_t num_tokens) {
  check_plan(plan, "combine");
  MOELAB_CHECK(y.defined() && weights.defined(), "combine: y and weights must be defined");
  MOELAB_CHECK(num_tokens == plan.num_tokens, "combine: num_tokens = ", num_tokens, " but the plan has ",
               plan.num_tokens, " tokens");
  MOELAB_CHECK(y.dim() == 2 && y.size(0) == plan.num_rows(), "combine: y must be [N, d] with N = ", plan.num_rows(),
               " dispatched rows, got shape ", y.shape());
  MOELAB_CHECK(is_floating(y.dtype()), "combine: y must be floating, got ", y.dtype());
  MOELAB_CHECK(weights.dim() == 2 && weights.size(0) == plan.num_tokens && weights.size(1) == plan.top_k,
               "combine: weights must be [T, k] = [", plan.num_tokens, ", ", plan.top_k, "], got shape ",
               weights.shape());
  MOELAB_CHECK(is_floating(weights.dtype()), "combine: weights must be floating, got ", weights.dtype());
  // Each row's weight, then one weighted scatter-add of the rows into token order (index_add sums
  // collisions in a fixed order, so the result is deterministic whatever the thread count).
  const Tensor w_rows = index_select(weights.to(y.dtype()).reshape({-1}), 0, plan.order);
  const Tensor scaled = y * w_rows.unsqueeze(1);
  return index_add(zeros({num_tokens, y.size(1)}, TensorOptions(y.dtype(), y.device())), 0, plan.token_of, scaled);
}

}  // namespace moelab::moe
