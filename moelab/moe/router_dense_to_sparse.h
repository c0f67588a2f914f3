// Dense-to-sparse gates (the temperature gate and the activation gate of the Gaussian-MoE papers on
// dense-to-sparse gating; DTS-Gate, Nie et al. 2021): a softmax over all experts whose temperature
// is learned or annealed, optionally cut to the top-k and/or a weight threshold. See docs/moe.md.
#pragma once
#include "moelab/moe/router.h"

namespace moelab::moe {

// The gate's activation on z = W x + b before the temperature: none gives the temperature gate
// softmax(z / tau); tanh and sigmoid give the activation gate softmax(act(z) / tau).
enum class GateActivation { kNone, kTanh, kSigmoid };
enum class AnnealSchedule { kLinear, kExponential };

struct DenseToSparseOptions {
  GateActivation activation = GateActivation::kNone;
  double temperature = 1.0;          // initial tau (> 0)
  bool learnable_temperature = false;  // "temperature" is a parameter (else a buffer set by set_temperature)
  bool bias = true;                  // the gate's b
  // With top_k < E the weights are the top-k dense probabilities, divided by their sum if renormalize.
  bool renormalize = false;
  // DTS-Gate: slots whose weight (after any renormalisation) is below threshold get kept = false and
  // weight 0; slot 0 is always kept. 0 disables it.
  double threshold = 0.0;
};

// tau for step `step` of an anneal from tau0 (step 0) to tau_min (step >= total_steps):
// linear: tau0 + (tau_min - tau0) * r; exponential: tau0 * (tau_min / tau0)^r, r = min(step / total_steps, 1).
double anneal_temperature(double tau0, double tau_min, int64_t step, int64_t total_steps,
                          AnnealSchedule schedule = AnnealSchedule::kExponential);

// logits = act(W x + b) / tau (W [E, d_model] "weight", b [E] "bias", nn::Linear init), probs =
// softmax(logits); ids / weights = the top-k of probs (k = E: the dense gate, slots in probability order).
class DenseToSparseGate : public Router {
 public:
  explicit DenseToSparseGate(const RouterOptions& opts, const DenseToSparseOptions& ds = {});
  RoutingDecision route(const Tensor& x) override;

  // Sets tau (> 0) without recording a gradient (works for the learnable and the scheduled form).
  void set_temperature(double tau);
  // set_temperature(anneal_temperature(tau0, tau_min, step, total_steps, schedule)); returns tau.
  double anneal(double tau0, double tau_min, int64_t step, int64_t total_steps,
                AnnealSchedule schedule = AnnealSchedule::kExponential);
  double temperature() const;
  const Tensor& weight() const { return weight_; }
  const DenseToSparseOptions& gate_options() const { return ds_; }

 private:
  DenseToSparseOptions ds_;
  Tensor& weight_;
  Tensor& bias_;
  Tensor& tau_;
};

}  // namespace moelab::moe
