#include "moelab/moe/router_sigmoid_bias.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "moelab/autograd/grad_mode.h"
#include "moelab/nn/init.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/indexing.h"
#include "moelab/ops/linalg.h"
#include "moelab/ops/reduce.h"
#include "moelab/ops/sort.h"

namespace moelab::moe {

namespace {
const SigmoidBiasOptions& checked(const RouterOptions& o, const SigmoidBiasOptions& sb) {
  MOELAB_CHECK(sb.n_group >= 1, "SigmoidBiasRouter: n_group must be positive, got ", sb.n_group);
  MOELAB_CHECK(o.num_experts % sb.n_group == 0, "SigmoidBiasRouter: n_group = ", sb.n_group,
               " must divide num_experts = ", o.num_experts);
  MOELAB_CHECK(sb.topk_group >= 1 && sb.topk_group <= sb.n_group, "SigmoidBiasRouter: topk_group must be in [1, n_group = ",
               sb.n_group, "], got ", sb.topk_group);
  const int64_t reachable = sb.topk_group * (o.num_experts / sb.n_group);
  MOELAB_CHECK(o.top_k <= reachable, "SigmoidBiasRouter: top_k = ", o.top_k, " exceeds the ", reachable,
               " experts in topk_group = ", sb.topk_group, " groups of ", o.num_experts / sb.n_group);
  MOELAB_CHECK(std::isfinite(sb.routed_scaling_factor) && sb.routed_scaling_factor > 0,
               "SigmoidBiasRouter: routed_scaling_factor must be positive, got ", sb.routed_scaling_factor);
  return sb;
}
}  // namespace

SigmoidBiasRouter::SigmoidBiasRouter(const RouterOptions& opts, const SigmoidBiasOptions& sb)
    : Router("SigmoidBiasRouter", opts),
      sb_(checked(opts_, sb)),
      weight_(register_parameter("weight", empty({opts.num_experts, opts.d_model}, opts.dtype))),
      bias_(register_buffer("e_score_correction_bias", zeros({opts.num_experts}, opts.dtype))),
      counts_(zeros({opts.num_experts}, kF64)) {
  nn::init::kaiming_uniform_(weight_, std::sqrt(5.0));  // nn::Linear / DeepSeek MoEGate init
}

RoutingDecision SigmoidBiasRouter::route(const Tensor& x) {
  Tensor xr = routing_input(x);
  const DType dt = xr.dtype();
  const int64_t T = xr.size(0), E = opts_.num_experts, k = opts_.top_k;
  RoutingDecision d;
  d.logits = linear(xr, weight_.to(dt));
  Tensor s = sigmoid(d.logits);
  {
    NoGradGuard ng;
    Tensor choice = add(s.detach(), bias_.to(dt).view({1, E}));
    if (sb_.n_group > 1) {
      const int64_t G = sb_.n_group, per = E / G;
      Tensor grouped = choice.view({T, G, per});
      Tensor group_scores = per >= 2 ? sum(std::get<0>(topk(grouped, 2, 2)), {2}) : grouped.view({T, G});
      Tensor group_idx = std::get<1>(topk(group_scores, sb_.topk_group, 1));
      // DeepSeek-V3's reference code masks the other groups with -inf (HF's port uses 0.0, which only
      // differs when a biased score is negative).
      Tensor drop = scatter(ones({T, G}, kBool), 1, group_idx, Scalar(false));
      choice = masked_fill(grouped, drop.view({T, G, 1}).expand({T, G, per}),
                           -std::numeric_limits<double>::infinity())
                   .reshape({T, E});
    }
    d.expert_ids = std::get<1>(topk(choice, k, 1));
  }
  Tensor w = gather(s, 1, d.expert_ids);
  if (k > 1 && sb_.norm_topk_prob) w = div(w, sum(w, {1}, true) + 1e-20);
  d.weights = sb_.routed_scaling_factor == 1.0 ? w : w * sb_.routed_scaling_factor;
  d.kept = ones({T, k}, kBool);
  d.probs = div(s, sum(s, {1}, true));
  if (is_training() && autograd::GradMode::is_enabled() && T > 0) {
    NoGradGuard ng;
    add_(counts_, bincount(d.expert_ids.reshape({-1}), Tensor(), E).to(kF64));
  }
  add_standard_losses(d);
  return d;
}

void SigmoidBiasRouter::update_bias(double rate) {
  MOELAB_CHECK(std::isfinite(rate) && rate >= 0, "SigmoidBiasRouter::update_bias: rate must be >= 0, got ", rate);
  NoGradGuard ng;
  Tensor delta = sign(sub(mean(counts_), counts_)) * rate;
  add_(bias_, delta.to(bias_.dtype()));
  counts_.zero_();
}

}  // namespace moelab::moe
