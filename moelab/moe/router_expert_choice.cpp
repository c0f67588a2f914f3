#include "moelab/moe/router_expert_choice.h"

#include <cmath>

#include "moelab/nn/init.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/indexing.h"
#include "moelab/ops/linalg.h"
#include "moelab/ops/softmax.h"
#include "moelab/ops/sort.h"

namespace moelab::moe {

namespace {
RouterOptions all_experts(const RouterOptions& o) {
  MOELAB_CHECK(o.load_balance_coef == 0.0, "ExpertChoiceRouter: load_balance_coef must be 0 (expert choice is ",
               "balanced by construction), got ", o.load_balance_coef);
  RouterOptions r = o;
  r.top_k = std::max<int64_t>(o.num_experts, 1);  // the decision has one slot per expert
  return r;
}
}  // namespace

ExpertChoiceRouter::ExpertChoiceRouter(const RouterOptions& opts, const ExpertChoiceOptions& ec_opts)
    : Router("ExpertChoiceRouter", all_experts(opts)),
      ec_(ec_opts),
      weight_(register_parameter("weight", empty({opts.num_experts, opts.d_model}, opts.dtype))),
      bias_(ec_opts.bias ? register_parameter("bias", empty({opts.num_experts}, opts.dtype))
                         : register_buffer("bias", Tensor())) {
  MOELAB_CHECK(std::isfinite(ec_.capacity_factor) && ec_.capacity_factor > 0,
               "ExpertChoiceRouter: capacity_factor must be > 0, got ", ec_.capacity_factor);
  MOELAB_CHECK(ec_.capacity >= 0, "ExpertChoiceRouter: capacity must be >= 0 (0: from capacity_factor), got ",
               ec_.capacity);
  // nn::Linear's initialisation, as TopKRouter.
  nn::init::kaiming_uniform_(weight_, std::sqrt(5.0));
  if (bias_.defined()) {
    double bound = 1.0 / std::sqrt(static_cast<double>(opts.d_model));
    nn::init::uniform_(bias_, -bound, bound);
  }
}

int64_t ExpertChoiceRouter::capacity(int64_t num_tokens) const {
  MOELAB_CHECK(num_tokens >= 0, "ExpertChoiceRouter::capacity: num_tokens must be >= 0, got ", num_tokens);
  int64_t c = ec_.capacity > 0
                  ? ec_.capacity
                  : static_cast<int64_t>(std::ceil(ec_.capacity_factor * static_cast<double>(num_tokens) /
                                                   static_cast<double>(opts_.num_experts)));
  return std::min(c, num_tokens);
}

RoutingDecision ExpertChoiceRouter::route(const Tensor& x) {
  Tensor xr = routing_input(x);
  const DType dt = xr.dtype();
  const int64_t T = x.size(0), E = opts_.num_experts, C = capacity(T);
  RoutingDecision d;
  d.logits = linear(xr, weight_.to(dt), bias_.defined() ? bias_.to(dt) : Tensor());
  d.probs = softmax(d.logits, 1);
  // Each expert's top-C tokens: topk along the token axis of probs^T [E, T]; the chosen (e, t) pairs
  // become a [E, T] mask, transposed back to the [T, E] slot layout.
  Tensor chosen = zeros({E, T}, kBool);
  if (C > 0) {
    Tensor token_ids = std::get<1>(topk(d.probs.t(), C, 1));
    chosen = scatter(chosen, 1, token_ids, true);
  }
  d.kept = chosen.t().contiguous();
  d.weights = d.probs * d.kept.to(dt);
  d.expert_ids = arange(int64_t{0}, E, int64_t{1}, kI64).unsqueeze(0).expand({T, E}).contiguous();
  add_standard_losses(d);
  return d;
}

}  // namespace moelab::moe
