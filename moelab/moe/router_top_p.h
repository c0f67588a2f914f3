// Top-p (dynamic) routing, Huang et al. 2024 ("Harder Tasks Need More Experts: Dynamic Routing in
// MoE Models"): each token takes experts in probability order until their cumulative probability
// passes a threshold p. See docs/moe.md.
#pragma once
#include "moelab/moe/router.h"

namespace moelab::moe {

struct TopPOptions {
  double top_p = 0.4;         // the threshold p in (0, 1]
  bool renormalize = false;   // divide the kept weights by their sum
  // Coefficient of Huang et al.'s dynamic loss losses["dynamic"] = mean_t(-sum_e p log p) (the
  // router entropy, which pushes each token towards fewer experts). The loss is reported when the
  // coefficient is non-zero.
  double dynamic_loss_coef = 0.0;
};

// p = softmax(x W^T), W [E, d_model] ("weight", nn::Linear init, no bias). In descending probability
// order (ties: lower index first) a token keeps expert j while the probability of the experts before
// it sums to at most top_p (Huang et al.'s code: the expert that crosses p is included), at least 1
// and at most RouterOptions::top_k (= max_k) experts. RoutingDecision k = max_k; unused slots have
// kept = false and weight 0; ids there are the next experts in order (so still valid indices).
// The standard "load_balancing" loss here counts only kept slots: E * sum_e f_e P_e with
// f_e = (kept slots on e) / (all kept slots) (perfect balance gives 1 for any number of experts).
class TopPRouter : public Router {
 public:
  explicit TopPRouter(const RouterOptions& opts, const TopPOptions& tp = {});
  RoutingDecision route(const Tensor& x) override;
  const Tensor& weight() const { return weight_; }
  const TopPOptions& top_p_options() const { return tp_; }

 private:
  TopPOptions tp_;
  Tensor& weight_;
};

}  // namespace moelab::moe
