#include "moelab/moe/router_top_p.h"

#include <cmath>

#include "moelab/autograd/grad_mode.h"
#include "moelab/nn/init.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/indexing.h"
#include "moelab/ops/linalg.h"
#include "moelab/ops/reduce.h"
#include "moelab/ops/scan.h"
#include "moelab/ops/softmax.h"
#include "moelab/ops/sort.h"

namespace moelab::moe {

namespace {
const TopPOptions& checked(const TopPOptions& tp) {
  MOELAB_CHECK(std::isfinite(tp.top_p) && tp.top_p > 0 && tp.top_p <= 1, "TopPRouter: top_p must be in (0, 1], got ",
               tp.top_p);
  MOELAB_CHECK(std::isfinite(tp.dynamic_loss_coef), "TopPRouter: dynamic_loss_coef must be finite");
  return tp;
}
}  // namespace

TopPRouter::TopPRouter(const RouterOptions& opts, const TopPOptions& tp)
    : Router("TopPRouter", opts),
      tp_(checked(tp)),
      weight_(register_parameter("weight", empty({opts.num_experts, opts.d_model}, opts.dtype))) {
  nn::init::kaiming_uniform_(weight_, std::sqrt(5.0));
}

RoutingDecision TopPRouter::route(const Tensor& x) {
  Tensor xr = routing_input(x);
  const DType dt = xr.dtype();
  const int64_t T = xr.size(0), E = opts_.num_experts, k = opts_.top_k;
  RoutingDecision d;
  d.logits = linear(xr, weight_.to(dt));
  d.probs = softmax(d.logits, 1);
  auto [w, ids] = topk(d.probs, k, 1);
  d.expert_ids = ids;
  {
    NoGradGuard ng;
    Tensor wd = w.detach();
    // Probability of the experts before slot j (exclusive cumsum); slot j is used iff it is <= p.
    Tensor before = sub(cumsum(wd, 1), wd);
    d.kept = le(before, scalar_tensor(tp_.top_p, dt));
  }
  w = mul(w, d.kept.to(dt));
  if (tp_.renormalize) w = div(w, sum(w, {1}, true));
  d.weights = w;
  // Load balancing over the kept slots only.
  if (opts_.load_balance_coef != 0.0) {
    Tensor f;
    {
      NoGradGuard ng;
      Tensor counts = zeros({E}, dt);
      if (T > 0) scatter_add_(counts, 0, ids.reshape({-1}), d.kept.reshape({-1}).to(dt));
      Tensor total = sum(counts);
      f = div(counts, clamp(total, 1.0, std::nullopt));
    }
    Tensor P = T > 0 ? mean(d.probs, {0}) : zeros({E}, dt);
    d.losses["load_balancing"] = sum(mul(f, P)) * static_cast<double>(E);
  }
  if (opts_.z_loss_coef != 0.0) d.losses["z_loss"] = router_z_loss(d.logits);
  if (tp_.dynamic_loss_coef != 0.0) {
    Tensor ent = neg(sum(mul(d.probs, log_softmax(d.logits, 1)), {1}));
    d.losses["dynamic"] = T > 0 ? mean(ent) : zeros({}, dt);
  }
  sum_losses(d, {{"load_balancing", opts_.load_balance_coef},
                 {"z_loss", opts_.z_loss_coef},
                 {"dynamic", tp_.dynamic_loss_coef}});
  return d;
}

}  // namespace moelab::moe
