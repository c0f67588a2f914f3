// Routers: modules that map tokens x [T, d_model] to a RoutingDecision. Every router in moelab
// derives from Router, so an MoE layer, telemetry and the aux-loss code work with any of them.
//
// Routing math runs in fp32 whatever the model dtype (f64 stays f64, so f64 gradcheck reaches the
// router), ties go to the lowest expert index (ops/sort.h topk), and no router draws randomness
// outside training mode: routing is deterministic in eval.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "moelab/core/generator.h"
#include "moelab/moe/aux_losses.h"
#include "moelab/nn/module.h"

namespace moelab::moe {

// What a router decided for T tokens with (at most) k experts per token.
struct RoutingDecision {
  Tensor expert_ids;  // i64 [T, k]: slot j of token t goes to expert expert_ids[t, j]; slot 0 is the top choice
  Tensor weights;     // [T, k] routing dtype: combine weights, differentiable w.r.t. the router's parameters
  Tensor kept;        // bool [T, k]: false for a slot dropped by capacity or unused by a variable-k router
  Tensor routed;      // bool [T, k] or undefined: the slots the router chose before capacity dropping
                      // (set by apply_capacity and GShardTop2Router); undefined means "kept" (or all)
  Tensor logits;      // [T, E] routing dtype: the raw router scores (before softmax / sigmoid), for z-loss
  Tensor probs;       // [T, E] routing dtype: the per-expert probabilities the balancing losses use
  // Unweighted auxiliary losses by name ("load_balancing", "z_loss", "importance", "load", ...), each a
  // 0-d tensor, computed before any capacity dropping. aux_loss is their weighted sum with the
  // router's coefficients (0-d, zero when the router has none): add it to the training loss.
  std::map<std::string, Tensor> losses;
  Tensor aux_loss;

  int64_t num_tokens() const { return expert_ids.size(0); }
  int64_t top_k() const { return expert_ids.size(1); }
};

// The dtype routing math runs in for model dtype dt: f64 for f64, f32 otherwise.
DType routing_dtype(DType dt);

struct RouterOptions {
  int64_t d_model = 0;
  int64_t num_experts = 0;
  int64_t top_k = 1;
  // Multiplicative jitter (Switch Transformer): in training mode the router input is multiplied by
  // U(1 - jitter_eps, 1 + jitter_eps) elementwise. 0 disables it.
  double jitter_eps = 0.0;
  // Coefficients of the losses summed into RoutingDecision::aux_loss.
  double load_balance_coef = 0.0;
  LoadBalanceNorm load_balance_norm = LoadBalanceNorm::kPerK;
  double z_loss_coef = 0.0;
  DType dtype = kF32;  // parameter dtype of the router's own weights
};

class Router : public nn::Module {
 public:
  Router(std::string name, const RouterOptions& opts);
  // x [T, d_model] (any float dtype) -> the decision. Checks the shape and routes.
  RoutingDecision operator()(const Tensor& x);
  virtual RoutingDecision route(const Tensor& x) = 0;

  const RouterOptions& options() const { return opts_; }
  int64_t num_experts() const { return opts_.num_experts; }
  int64_t top_k() const { return opts_.top_k; }
  int64_t d_model() const { return opts_.d_model; }
  // Seeds the router's own generator (jitter, noise); default seed 0.
  void manual_seed(uint64_t seed) { gen_.manual_seed(seed); }
  // How far that stream has been drawn, and a way back there: a resumed run that saved the offset
  // continues the stream instead of replaying it from the seed.
  uint64_t rng_offset() const { return gen_.offset(); }
  void set_rng_offset(uint64_t offset) { gen_.set_offset(offset); }

 protected:
  // x cast to the routing dtype, with multiplicative jitter applied in training mode.
  Tensor routing_input(const Tensor& x);
  // Fills decision.losses["load_balancing"] and ["z_loss"] from probs / logits / expert_ids when their
  // coefficient is non-zero (or always when always_report is true), and sets aux_loss.
  void add_standard_losses(RoutingDecision& d, bool always_report = false) const;
  // aux_loss from d.losses and the given coefficient per name (missing names count 0).
  static void sum_losses(RoutingDecision& d, const std::map<std::string, double>& coefs);
  Generator& generator() { return gen_; }

  RouterOptions opts_;

 private:
  Generator gen_{0};
};

// Token-choice top-k over a linear gate logits = x W^T (+ b), W [E, d_model] (nn::Linear layout).
//  kSoftmaxThenTopK (GShard, Switch, DeepSeek-V2): p = softmax(logits) over all experts, keep the
//    top-k of p; with renormalize the k weights are divided by their sum (Mixtral's HF code does this).
//  kTopKThenSoftmax (Shazeer 2017, Mixtral's paper form): softmax over the k largest logits only.
// Both orders give the same ids; weights differ unless renormalize is on (then they are equal).
enum class TopKOrder { kSoftmaxThenTopK, kTopKThenSoftmax };

class TopKRouter : public Router {
 public:
  TopKRouter(const RouterOptions& opts, TopKOrder order = TopKOrder::kSoftmaxThenTopK, bool renormalize = false,
             bool bias = false);
  RoutingDecision route(const Tensor& x) override;
  const Tensor& weight() const { return weight_; }

 private:
  TopKOrder order_;
  bool renormalize_;
  Tensor& weight_;
  Tensor& bias_;
};

}  // namespace moelab::moe
