// The MoE layer: a drop-in replacement for a transformer block's FFN.
//
//   x [..., d] -> tokens [T, d] -> router -> RoutingDecision (ids, weights, kept)
//     -> apply_capacity -> plan_dispatch -> dispatch -> ExpertFFN on expert segments
//     -> combine(weights) [T, d] (+ shared experts) -> [..., d]
//
// Dropless by default. A slot dropped by capacity (kept = false) contributes nothing: the token's
// MoE output is then only its kept slots (zero if none), and the residual connection of the block
// carries it on. Routing runs in the router's dtype (fp32, f64 for f64 models); combine casts the
// weights to the model dtype.
//
// Shared experts (DeepSeekMoE, Qwen-MoE): an always-on dense FFN of width shared_d_ff ("shared_experts",
// an ExpertFFN with one expert; several shared experts of width f are one of width n * f) whose
// output is added unweighted, or scaled by sigmoid(x . w_gate) with shared_expert_gate (Qwen2-MoE's
// "shared_expert_gate", an nn::Linear(d, 1, bias = false)).
//
//   auto router = std::make_shared<moe::TopKRouter>(ropts, moe::TopKOrder::kSoftmaxThenTopK, true);
//   moe::MoELayer moe(router, {.d_ff = 1024, .activation = "swiglu"});
//   Tensor y = moe(x);                                   // x [B, S, d] -> [B, S, d]
//   Tensor loss = task_loss + moe.aux_loss();
#pragma once
#include <memory>
#include <string>

#include "moelab/moe/capacity.h"
#include "moelab/moe/experts.h"
#include "moelab/moe/router.h"
#include "moelab/nn/linear.h"

namespace moelab::moe {

struct MoELayerOptions {
  int64_t d_ff = 0;                    // width of each routed expert
  std::string activation = "swiglu";   // "relu", "gelu", "silu" or "swiglu", routed and shared experts
  int64_t shared_d_ff = 0;             // width of the shared (always-on) FFN; 0: none
  bool shared_expert_gate = false;     // Qwen2-MoE's sigmoid gate on the shared output
  CapacityOptions capacity;            // factor 0: dropless
  DType dtype = kF32;                  // the model dtype (experts, shared experts); f32 or f64
};

class MoELayer : public nn::UnaryModule {
 public:
  // d_model and the number of experts come from the router (registered as child "router"); the
  // routed experts are child "experts" (parameters experts.w1, experts.w2, experts.w3).
  MoELayer(std::shared_ptr<Router> router, const MoELayerOptions& options);

  // x [..., d_model] in the model dtype (any layout) -> the same shape.
  Tensor forward(const Tensor& x) override;

  // The routing decision of the last forward (after capacity), for the training loop and telemetry.
  const RoutingDecision& last_decision() const { return last_; }
  // The router's aux loss (weighted sum of its losses) of the last forward; 0-d, zero before any.
  Tensor aux_loss() const;

  Router& router() { return *router_; }
  ExpertFFN& experts() { return *experts_; }
  // Null when the layer has no shared experts / no shared expert gate.
  ExpertFFN* shared_experts() { return shared_.get(); }
  nn::Linear* shared_expert_gate() { return shared_gate_.get(); }

  const MoELayerOptions& options() const { return opts_; }
  int64_t d_model() const { return router_->d_model(); }
  int64_t num_experts() const { return router_->num_experts(); }

 private:
  MoELayerOptions opts_;
  std::shared_ptr<Router> router_;
  std::shared_ptr<ExpertFFN> experts_;
  std::shared_ptr<ExpertFFN> shared_;
  std::shared_ptr<nn::Linear> shared_gate_;
  RoutingDecision last_;
};

}  // namespace moelab::moe
