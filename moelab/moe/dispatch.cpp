#include "moelab/moe/dispatch.h"

#include <span>

#include "moelab/autograd/function.h"
#include "moelab/backends/index_kernels.h"
#include "moelab/core/error.h"
#include "moelab/ops/reduce.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/indexing.h"
#include "moelab/ops/op_helpers.h"

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

IndexKernels& index_kernels(const Tensor& t) { return moelab::detail::backend_of(t).index(); }

// combine's backward without a graph, in one pass over the rows and no [N, d] temporaries:
// gy[r] = w[slot r] * g[token r], gw[slot] = <g[token], y[row]> (0 for a dropped slot).
std::vector<Tensor> combine_backward_fused(const Tensor& g_in, const Tensor& y_in, const Tensor& w_in,
                                           const DispatchPlan& plan, bool want_y, bool want_w) {
  const Tensor y = y_in.contiguous(), w = w_in.to(y.dtype()).contiguous(), g = g_in.to(y.dtype()).contiguous();
  Tensor gy = want_y ? make_empty(y.shape(), y.dtype()) : Tensor();
  Tensor gw = want_w ? make_empty(w.shape(), y.dtype()) : Tensor();
  index_kernels(y).weighted_row_sum_backward(gy, gw, g, y, w, plan.row_of.reshape(w.shape()), plan.order);
  return {gy, gw};
}

}  // namespace

Tensor dispatch(const Tensor& x, const DispatchPlan& plan) {
  check_plan(plan, "dispatch");
  MOELAB_CHECK(x.defined(), "dispatch: x is undefined");
  MOELAB_CHECK(x.dim() == 2 && x.size(0) == plan.num_tokens, "dispatch: x must be [T, d] with T = ", plan.num_tokens,
               " tokens of the plan, got shape ", x.shape());
  MOELAB_CHECK(is_floating(x.dtype()), "dispatch: x must be floating, got ", x.dtype());
  const int64_t N = plan.num_rows(), d = x.size(1);
  Tensor out;
  {
    // Row r is a copy of x[token_of[r]]: advanced indexing on the token dim.
    autograd::NoGradGuard no_grad;
    out = make_empty({N, d}, x.dtype());
    index_kernels(x).index(out, x, std::span<const Tensor>(&plan.token_of, 1));
  }
  if (autograd::needs_grad({&x}))
    // d x[t] = sum of the gradients of t's rows: combine with unit weights (differentiable in turn).
    autograd::record_op("dispatch", {&x}, {&out}, {},
                        [plan](autograd::FunctionNode::Context&, const std::vector<Tensor>& g) {
                          const Tensor ones_w = ones({plan.num_tokens, plan.top_k}, g[0].dtype());
                          return std::vector<Tensor>{combine(g[0], ones_w, plan, plan.num_tokens)};
                        });
  return out;
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
  const int64_t T = num_tokens, k = plan.top_k, d = y.size(1);
  const Tensor w = weights.to(y.dtype());
  Tensor out;
  {
    // Forward: per token, a weighted sum of its kept rows (a gather, so no write collisions and a
    // fixed summation order whatever the thread count).
    autograd::NoGradGuard no_grad;
    const Tensor yc = y.contiguous(), wc = w.contiguous();
    out = make_empty({T, d}, y.dtype());
    index_kernels(y).weighted_row_sum(out, yc, wc, plan.row_of.reshape({T, k}));
  }
  if (autograd::needs_grad({&y, &w})) {
    // d y[r] = w[slot r] * g[token r]; d w[t, j] = <g[t], y[row_of[t, j]]> (0 for a dropped slot).
    // One fused pass when no graph is being built; under create_graph the same with differentiable
    // ops, so gradients of any order follow.
    const int64_t S_ = T * k;
    autograd::record_op(
        "combine", {&y, &w}, {&out}, {autograd::SavedVariable(y, false), autograd::SavedVariable(w, false)},
        [plan, T, k, S_](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
          if (!autograd::GradMode::is_enabled())
            return combine_backward_fused(g[0], c.saved(0), c.saved(1), plan, c.needs_input_grad(0),
                                          c.needs_input_grad(1));
          const Tensor g_rows = dispatch(g[0], plan);
          Tensor gy, gw;
          if (c.needs_input_grad(0))
            gy = g_rows * index_select(c.saved(1).reshape({-1}), 0, plan.order).unsqueeze(1);
          if (c.needs_input_grad(1)) {
            const Tensor dots = (g_rows * c.saved(0)).sum(1);
            gw = index_add(zeros({S_}, TensorOptions(dots.dtype(), dots.device())), 0, plan.order, dots)
                     .reshape({T, k});
          }
          return std::vector<Tensor>{gy, gw};
        });
  }
  return out;
}

}  // namespace moelab::moe
