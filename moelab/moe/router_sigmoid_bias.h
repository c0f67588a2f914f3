// DeepSeek-V3 routing: sigmoid scores, a per-expert bias used only to choose experts (auxiliary-loss-
// free balancing, updated outside the gradient), and group-limited top-k. See docs/moe.md
// ("Sigmoid-bias, cosine, dense-to-sparse and top-p routers").
#pragma once
#include "moelab/moe/router.h"

namespace moelab::moe {

struct SigmoidBiasOptions {
  // Group-limited routing: the E experts form n_group equal groups; each token scores a group by the
  // sum of its two best biased scores, keeps the topk_group best groups and chooses its top-k
  // experts among them. n_group = 1 is plain top-k. n_group must divide E, and
  // top_k <= topk_group * (E / n_group).
  int64_t n_group = 1;
  int64_t topk_group = 1;
  // Divide the k chosen scores by (their sum + 1e-20) when k > 1 (HF norm_topk_prob).
  bool norm_topk_prob = true;
  // Multiplies the combine weights after normalisation (HF routed_scaling_factor).
  double routed_scaling_factor = 1.0;
};

// s = sigmoid(x W^T) in the routing dtype, W [E, d_model] ("weight", nn::Linear init, no bias).
// Selection uses s + b with b the buffer "e_score_correction_bias" [E] (zeros at start, no gradient);
// the combine weights are s at the chosen experts, so b never enters the gradient.
// RoutingDecision::probs is s normalised per token (s / sum_e s), which makes the standard
// "load_balancing" loss with LoadBalanceNorm::kPerK exactly DeepSeek-V3's sequence-wise balance
// loss over the T tokens of the call (route one sequence per call for the per-sequence form).
// Bias update (DeepSeek-V3): every forward run in training mode with autograd's grad mode on adds
// its per-expert token counts c to an accumulator; update_bias(rate) does b += rate * sign(mean(c) - c)
// and resets the counts. Call it after each optimiser step.
class SigmoidBiasRouter : public Router {
 public:
  explicit SigmoidBiasRouter(const RouterOptions& opts, const SigmoidBiasOptions& sb = {});
  RoutingDecision route(const Tensor& x) override;

  // b += rate * sign(mean(c) - c) with the counts accumulated since the last call; then counts = 0.
  void update_bias(double rate = 1e-3);
  // Per-expert token counts accumulated since the last update_bias (f64 [E]).
  const Tensor& expert_counts() const { return counts_; }
  const Tensor& weight() const { return weight_; }
  const Tensor& e_score_correction_bias() const { return bias_; }
  const SigmoidBiasOptions& sigmoid_bias_options() const { return sb_; }

 private:
  SigmoidBiasOptions sb_;
  Tensor& weight_;
  Tensor& bias_;
  Tensor counts_;
};

}  // namespace moelab::moe
