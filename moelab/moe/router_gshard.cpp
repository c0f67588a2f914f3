#include "moelab/moe/router_gshard.h"

#include <cmath>
#include <limits>

#include "moelab/nn/init.h"
#include "moelab/autograd/function.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/indexing.h"
#include "moelab/ops/linalg.h"
#include "moelab/ops/random.h"
#include "moelab/ops/reduce.h"
#include "moelab/ops/shape_ops.h"
#include "moelab/ops/softmax.h"

namespace moelab::moe {

namespace {

void check_gshard_options(const char* fn, const GShardOptions& o) {
  MOELAB_CHECK(std::isfinite(o.capacity_factor) && o.capacity_factor > 0, fn,
               ": capacity_factor must be finite and > 0, got ", o.capacity_factor);
  MOELAB_CHECK(std::isfinite(o.eval_capacity_factor) && o.eval_capacity_factor > 0, fn,
               ": eval_capacity_factor must be finite and > 0, got ", o.eval_capacity_factor);
  MOELAB_CHECK(o.min_capacity >= 0, fn, ": min_capacity must be >= 0, got ", o.min_capacity);
}

}  // namespace

int64_t gshard_capacity(const GShardOptions& o, double capacity_factor, int64_t num_tokens, int64_t num_experts) {
  MOELAB_CHECK(std::isfinite(capacity_factor) && capacity_factor > 0,
               "gshard_capacity: capacity_factor must be finite and > 0, got ", capacity_factor);
  if (!o.drop_tokens) return -1;
  CapacityOptions c;
  c.factor = capacity_factor;
  c.min_capacity = o.min_capacity;
  c.formula = o.formula;
  return expert_capacity(c, num_tokens, 2, num_experts);
}

RoutingDecision gshard_top2_gating(const Tensor& logits, double capacity_factor, const GShardOptions& o,
                                   const Tensor& gumbel, const Tensor& uniform) {
  check_gshard_options("gshard_top2_gating", o);
  MOELAB_CHECK(logits.defined() && logits.dim() == 2, "gshard_top2_gating: logits must be [T, E], got shape ",
               logits.defined() ? logits.shape() : Shape{});
  MOELAB_CHECK(logits.dtype() == kF32 || logits.dtype() == kF64, "gshard_top2_gating: logits must be f32 or f64, got ",
               logits.dtype());
  const int64_t T = logits.size(0), E = logits.size(1);
  MOELAB_CHECK(E >= 2, "gshard_top2_gating: top-2 needs at least 2 experts, got logits of shape ", logits.shape());
  if (gumbel.defined()) {
    MOELAB_CHECK(o.second_expert_policy == SecondExpertPolicy::kSampling,
                 "gshard_top2_gating: gumbel noise is only used by second_expert_policy kSampling");
    MOELAB_CHECK(gumbel.shape() == logits.shape(), "gshard_top2_gating: gumbel of shape ", gumbel.shape(),
                 " does not match logits of shape ", logits.shape());
    MOELAB_CHECK(is_floating(gumbel.dtype()), "gshard_top2_gating: gumbel must be floating, got ", gumbel.dtype());
  }
  if (uniform.defined()) {
    MOELAB_CHECK(o.second_expert_policy == SecondExpertPolicy::kRandom,
                 "gshard_top2_gating: uniform noise is only used by second_expert_policy kRandom");
    MOELAB_CHECK(uniform.dim() == 1 && uniform.size(0) == T, "gshard_top2_gating: uniform must be [T] with T = ", T,
                 ", got shape ", uniform.shape());
    MOELAB_CHECK(is_floating(uniform.dtype()), "gshard_top2_gating: uniform must be floating, got ", uniform.dtype());
  }
  const int64_t C = gshard_capacity(o, capacity_factor, T, E);

  RoutingDecision d;
  d.logits = logits;
  d.probs = softmax(logits, 1);
  {
    autograd::NoGradGuard no_grad;
    const Tensor idx1 = argmax(d.probs, 1, true);  // [T, 1]
    Tensor second = gumbel.defined() ? logits.detach() + gumbel.to(logits.dtype()) : logits.detach();
    second = scatter(second, 1, idx1, -std::numeric_limits<double>::infinity());
    d.expert_ids = cat({idx1, argmax(second, 1, true)}, 1);
  }
  const Tensor gates = gather(d.probs, 1, d.expert_ids);  // [T, 2]: g1, g2 before dropping
  Tensor kept = ones({T, 2}, kBool);
  if (uniform.defined()) {
    // fairseq 'random': sampled = 2 * g2 > U; the second slot of an unsampled token takes no room.
    autograd::NoGradGuard no_grad;
    const Tensor sampled = (gates.detach().narrow(1, 1, 1).reshape({T}) * 2.0) > uniform.to(gates.dtype());
    kept = cat({ones({T, 1}, kBool), sampled.unsqueeze(1)}, 1);
  }
  d.routed = kept;  // after the random policy, before capacity
  if (C >= 0)
    kept = capacity_mask(d.expert_ids, gates, kept, E, C,
                         o.batch_prioritized ? DropPolicy::kBatchPriority : DropPolicy::kPosition);
  d.kept = kept;
  d.weights = renormalize_kept(gates, kept);
  d.losses["load_balancing"] = switch_load_balancing_loss(d.probs, d.expert_ids, LoadBalanceNorm::kFirstChoice);
  d.aux_loss = d.losses["load_balancing"];
  return d;
}

GShardTop2Router::GShardTop2Router(const RouterOptions& opts, const GShardOptions& gshard)
    : Router("GShardTop2Router", opts),
      gshard_(gshard),
      weight_(register_parameter("weight", empty({opts.num_experts, opts.d_model}, opts.dtype))) {
  MOELAB_CHECK(opts.top_k == 2, "GShardTop2Router: top_k must be 2, got ", opts.top_k);
  check_gshard_options("GShardTop2Router", gshard);
  // nn::Linear(d_model, E, bias=False)'s initialisation, as DeepSpeed's wg.
  nn::init::kaiming_uniform_(weight_, std::sqrt(5.0));
}

int64_t GShardTop2Router::capacity(int64_t num_tokens) const {
  return gshard_capacity(gshard_, is_training() ? gshard_.capacity_factor : gshard_.eval_capacity_factor, num_tokens,
                         opts_.num_experts);
}

RoutingDecision GShardTop2Router::finish(RoutingDecision d) {
  if (opts_.z_loss_coef != 0.0) d.losses["z_loss"] = router_z_loss(d.logits);
  sum_losses(d, {{"load_balancing", opts_.load_balance_coef}, {"z_loss", opts_.z_loss_coef}});
  return d;
}

void GShardTop2Router::check_tokens(const Tensor& x) const {
  MOELAB_CHECK(x.defined() && x.dim() == 2 && x.size(1) == opts_.d_model,
               "GShardTop2Router: expected tokens [T, d_model = ", opts_.d_model, "], got ",
               x.defined() ? x.shape() : Shape{});
  MOELAB_CHECK(is_floating(x.dtype()), "GShardTop2Router: tokens must be floating point, got ", x.dtype());
}

RoutingDecision GShardTop2Router::route_with_noise(const Tensor& x, const Tensor& gumbel, const Tensor& uniform) {
  check_tokens(x);
  const Tensor xr = routing_input(x);
  const Tensor logits = linear(xr, weight_.to(xr.dtype()));
  const double cf = is_training() ? gshard_.capacity_factor : gshard_.eval_capacity_factor;
  return finish(gshard_top2_gating(logits, cf, gshard_, gumbel, uniform));
}

RoutingDecision GShardTop2Router::route(const Tensor& x) {
  check_tokens(x);
  const int64_t T = x.size(0), E = opts_.num_experts;
  const DType dt = routing_dtype(x.dtype());
  Tensor gumbel, uniform;
  if (is_training() && gshard_.second_expert_policy == SecondExpertPolicy::kSampling) {
    // Gumbel(0, 1) = -log(-log(U)), U kept inside (0, 1) so the noise stays finite.
    const double tiny = dt == kF64 ? 1e-300 : 1e-30;
    Tensor u = clamp(rand({T, E}, dt, &generator()), tiny, 1.0 - (dt == kF64 ? 1e-16 : 1e-7));
    gumbel = -log(-log(u));
  } else if (is_training() && gshard_.second_expert_policy == SecondExpertPolicy::kRandom) {
    uniform = rand({T}, dt, &generator());
  }
  return route_with_noise(x, gumbel, uniform);
}

}  // namespace moelab::moe
