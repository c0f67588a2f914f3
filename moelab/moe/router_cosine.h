// X-MoE's cosine router (Chi et al. 2022, "On the Representation Collapse of Sparse Mixture of
// Experts"): tokens projected to a low dimension, cosine similarity with expert embeddings, scaled by
// a temperature, then softmax and top-k. See docs/moe.md.
#pragma once
#include "moelab/moe/router.h"

namespace moelab::moe {

struct CosineRouterOptions {
  int64_t d_proj = 16;                 // X-MoE projects to 16 dimensions
  bool learnable_temperature = true;   // log_temperature is a parameter (else a buffer)
  double init_temperature = 0.07;      // X-MoE's initial tau
  double min_temperature = 0.01;       // tau = max(exp(log_temperature), min_temperature)
  bool renormalize = false;            // divide the k softmax weights by their sum
  double eps = 1e-4;                   // L2 normalisation: v / max(||v||, eps) (X-MoE's _cosine eps)
};

// logits[t, e] = cos(W_proj x_t, emb_e) / tau, W_proj [d_proj, d_model] ("proj_weight", nn::Linear
// init, no bias), emb [E, d_proj] ("expert_embeddings", orthogonal init with gain 0.32 as in X-MoE:
// for E <= d_proj the experts start at right angles); then softmax over experts and top-k as
// TopKRouter's kSoftmaxThenTopK. The temperature is stored as "log_temperature" (0-d) so that a
// learned tau stays positive; tau is clamped below at min_temperature as in X-MoE.
class CosineRouter : public Router {
 public:
  explicit CosineRouter(const RouterOptions& opts, const CosineRouterOptions& co = {});
  RoutingDecision route(const Tensor& x) override;

  // The temperature in effect (after the clamp).
  double temperature() const;
  const Tensor& proj_weight() const { return proj_; }
  const Tensor& expert_embeddings() const { return emb_; }
  const CosineRouterOptions& cosine_options() const { return co_; }

 private:
  CosineRouterOptions co_;
  Tensor& proj_;
  Tensor& emb_;
  Tensor& log_tau_;
};

}  // namespace moelab::moe
