// Expert-choice routing (Zhou et al. 2022), as flaxformer's ExpertsChooseMaskedRouter computes it:
// probs = softmax(x W^T (+ b)) over experts in fp32; each expert e takes the C tokens with the
// largest probs[:, e] (ties to the lowest token index); the combine weight of (t, e) is probs[t, e].
// A token gets 0..E experts, and no auxiliary loss is needed: every expert processes exactly C
// tokens. Not causal: a token's routing depends on the other tokens of the batch (future ones too),
// so it does not suit autoregressive decoding.
//
// RoutingDecision layout: k = E slots per token, slot j belongs to expert j (expert_ids[t, j] = j),
// kept[t, j] = expert j chose token t, weights[t, j] = probs[t, j] where kept and 0 elsewhere.
// RouterOptions::top_k is ignored (the decision's k is E). z-loss is available through
// RouterOptions::z_loss_coef; load_balance_coef must be 0 (the routing is balanced by construction).
#pragma once
#include "moelab/moe/router.h"

namespace moelab::moe {

struct ExpertChoiceOptions {
  // Tokens per expert C = min(T, ceil(capacity_factor * T / E)) unless capacity > 0 (then min(T, capacity)).
  double capacity_factor = 1.0;
  int64_t capacity = 0;
  bool bias = false;  // a bias on the gate, as flaxformer's RouterWeights(use_bias=True)
};

class ExpertChoiceRouter : public Router {
 public:
  explicit ExpertChoiceRouter(const RouterOptions& opts, const ExpertChoiceOptions& ec_opts = {});
  RoutingDecision route(const Tensor& x) override;
  // Tokens each expert takes for a batch of num_tokens tokens.
  int64_t capacity(int64_t num_tokens) const;

  const ExpertChoiceOptions& expert_choice_options() const { return ec_; }
  const Tensor& weight() const { return weight_; }  // [E, d_model], nn::Linear's layout and init

 private:
  ExpertChoiceOptions ec_;
  Tensor& weight_;
  Tensor& bias_;
};

}  // namespace moelab::moe
