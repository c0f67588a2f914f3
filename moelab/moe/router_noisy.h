// Noisy top-k gating (Shazeer et al. 2017, "Outrageously large neural networks"), as FastMoE's
// NoisyGate and davidmrau/mixture-of-experts write it:
//   clean = x W_g,   std = softplus(x W_noise) + noise_epsilon,
//   H = clean + eps * std with eps ~ N(0, 1) in training (H = clean in eval),
//   keep the top-k of H, weights = softmax over those k values.
// Losses (unweighted, in RoutingDecision::losses): "importance" = cv^2(sum_t gates[t,:]) and
// "load" = cv^2(load) with the smooth load estimate
//   load_e = sum_t P(H[t,e] stays in the top-k when only its own noise is redrawn)
//          = sum_t Phi((clean[t,e] - threshold[t,e]) / std[t,e]),
// threshold = the (k+1)-th largest H of the token if e is in its top-k, else the k-th largest. In
// eval (and when k = E) load_e is the count of tokens routed to e, as in the references.
// aux_loss = loss_coef * (importance + load) (+ the standard losses of RouterOptions, if set).
//
// Parameters w_gate and w_noise are [d_model, E] (x W, the references' layout, so their state
// dicts load directly) and zero-initialised as in the references: a fresh router sends every token
// to experts 0..k-1 in eval until it has been trained (in training the noise breaks the ties).
#pragma once
#include "moelab/moe/router.h"

namespace moelab::moe {

struct NoisyTopKOptions {
  double loss_coef = 1e-2;       // weight of importance + load in aux_loss (the references' default)
  double noise_epsilon = 1e-2;   // added to softplus(x W_noise): the minimum noise scale
  bool noisy = true;             // false: plain top-k-then-softmax of x W_g, no w_noise parameter
};

class NoisyTopKRouter : public Router {
 public:
  explicit NoisyTopKRouter(const RouterOptions& opts, const NoisyTopKOptions& noisy_opts = {});
  // Draws eps ~ N(0,1) [T,E] from the router's generator in training mode; no noise in eval.
  RoutingDecision route(const Tensor& x) override;
  // The training-mode computation with the given standard-normal noise eps [T, E] (golden tests,
  // replaying a step). An undefined eps (or noisy = false) routes without noise. Jitter of the
  // input still applies only in training mode.
  RoutingDecision route_with_noise(const Tensor& x, const Tensor& eps);

  const NoisyTopKOptions& noisy_options() const { return nopts_; }
  const Tensor& w_gate() const { return w_gate_; }
  const Tensor& w_noise() const { return w_noise_; }

 private:
  NoisyTopKOptions nopts_;
  Tensor& w_gate_;
  Tensor& w_noise_;
};

}  // namespace moelab::moe
