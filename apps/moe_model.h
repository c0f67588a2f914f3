// The MoE part of `moelab train --moe`: its config (serialised in the checkpoint so that `moelab eval`
// and --resume rebuild the same model), the residual MoE block the models insert after their hidden
// layer, and per-epoch routing statistics for the training output.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "moelab/moe/moe_layer.h"
#include "moelab/moe/telemetry.h"
#include "moelab/nn/module.h"

namespace moelab::app {

struct MoEConfig {
  bool enabled = false;
  // topk | noisy | gshard | expert-choice | sigmoid-bias | cosine | dense-to-sparse | top-p | hash
  std::string router = "topk";
  int64_t experts = 8;              // E
  int64_t top_k = 2;                // k (top-p: the most experts a token may get; expert-choice: unused)
  int64_t expert_hidden = 0;        // f, the width of each expert; 0: 2 * hidden
  std::string activation = "swiglu";  // swiglu | relu | gelu | silu
  double capacity_factor = 0.0;     // 0: dropless (gshard: no dropping; expert-choice: 1)
  std::string drop_policy = "position";  // position | score
  double aux_loss_coef = 1e-2;      // load balancing (noisy: importance + load)
  double z_loss_coef = 1e-3;
  double bias_update_rate = 1e-3;   // sigmoid-bias: b += rate * sign(mean load - load) after each step
  double top_p = 0.5;               // top-p threshold
  double jitter = 0.0;              // multiplicative router-input jitter eps (training only)
};

void to_json(nlohmann::json& j, const MoEConfig& c);
// Missing keys keep their defaults (a checkpoint without "moe" has MoE disabled).
void from_json(const nlohmann::json& j, MoEConfig& c);

// Throws std::invalid_argument naming the flag (e.g. "--top-k 9 exceeds --experts 8").
void validate_moe_config(const MoEConfig& c);

// The expert width in use for a model of hidden width `hidden`.
int64_t expert_width(const MoEConfig& c, int64_t hidden);

// One line describing the MoE part, e.g. "moe topk, 8 experts, top-2, swiglu f=256, dropless".
std::string describe_moe(const MoEConfig& c, int64_t hidden);

// h -> h + MoELayer(h) on [N, d] activations (the MoE FFN as a residual block). The layer is the child
// "moe" (parameters moe.router.*, moe.experts.w1/w2/w3).
class ResidualMoE : public nn::UnaryModule {
 public:
  ResidualMoE(const MoEConfig& config, int64_t d_model);
  Tensor forward(const Tensor& x) override;
  moe::MoELayer& layer() { return *moe_; }
  const MoEConfig& config() const { return config_; }

 private:
  MoEConfig config_;
  std::shared_ptr<moe::MoELayer> moe_;
};

// Every ResidualMoE inside `model`, with the dotted module name of its MoE layer, e.g. "3.moe" (the
// layer name in routing telemetry and statistics).
std::vector<std::pair<std::string, ResidualMoE*>> find_moe_blocks(nn::Module& model);

// Routing statistics accumulated over an epoch, or over an evaluation (the per-batch RoutingStats summed).
class EpochRoutingStats {
 public:
  void add(const moe::RoutingStats& s, double aux_loss);
  // "dropped 3.1% of slots, 0.4% of tokens, 1.94 experts/token, entropy 1.92, imbalance 1.34,
  //  dead 0/8, load [12 13 ...]%, aux 0.0213": routed slots dropped by capacity, tokens whose
  // routed slots were all dropped (residual only), kept slots per token, mean
  // router entropy (nats), max/mean of the epoch's kept slots per expert, experts that got nothing
  // all epoch, each expert's share of the kept slots, mean weighted aux loss.
  std::string summary() const;
  // The same figures as JSON: dropped_slots, dropped_tokens (fractions), experts_per_token,
  // entropy, imbalance, dead, experts, load (each expert's share of the kept slots), aux_loss.
  nlohmann::json to_json() const;
  bool empty() const { return steps_ == 0; }

 private:
  struct Totals {
    double dropped, tokens_dropped, experts_per_token, entropy, imbalance, aux;
    int64_t dead;
    std::vector<double> load;
  };
  Totals totals() const;

  std::vector<int64_t> kept_, routed_;
  double entropy_sum_ = 0, tokens_dropped_ = 0, aux_sum_ = 0;
  int64_t tokens_ = 0, steps_ = 0;
};

}  // namespace moelab::app
