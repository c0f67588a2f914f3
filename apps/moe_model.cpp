#include "moe_model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "moelab/moe/router_cosine.h"
#include "moelab/moe/router_dense_to_sparse.h"
#include "moelab/moe/router_expert_choice.h"
#include "moelab/moe/router_gshard.h"
#include "moelab/moe/router_hash.h"
#include "moelab/moe/router_noisy.h"
#include "moelab/moe/router_sigmoid_bias.h"
#include "moelab/moe/router_top_p.h"
#include "moelab/ops/elementwise.h"

namespace moelab::app {
namespace {

const std::vector<std::string> kRouters{"topk",   "noisy",           "gshard", "expert-choice", "sigmoid-bias",
                                        "cosine", "dense-to-sparse", "top-p",  "hash"};

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

void fail(const std::string& msg) { throw std::invalid_argument(msg); }

// Routers that apply capacity themselves (the layer then runs dropless).
bool router_owns_capacity(const std::string& r) { return r == "gshard" || r == "expert-choice"; }

std::shared_ptr<moe::Router> make_router(const MoEConfig& c, int64_t d_model) {
  moe::RouterOptions ro;
  ro.d_model = d_model;
  ro.num_experts = c.experts;
  ro.top_k = c.router == "expert-choice" ? 1 : c.top_k;
  ro.jitter_eps = c.jitter;
  ro.load_balance_coef = c.aux_loss_coef;
  ro.z_loss_coef = c.z_loss_coef;
  const std::string& r = c.router;
  if (r == "topk")  // softmax then top-k; Mixtral's renormalisation for k > 1 (k = 1 keeps p, as Switch)
    return std::make_shared<moe::TopKRouter>(ro, moe::TopKOrder::kSoftmaxThenTopK, /*renormalize=*/c.top_k > 1);
  if (r == "noisy") {
    ro.load_balance_coef = 0;  // importance + load with the same coefficient instead
    return std::make_shared<moe::NoisyTopKRouter>(ro, moe::NoisyTopKOptions{.loss_coef = c.aux_loss_coef});
  }
  if (r == "gshard") {
    moe::GShardOptions gs;
    gs.drop_tokens = c.capacity_factor > 0;
    if (gs.drop_tokens) gs.capacity_factor = gs.eval_capacity_factor = c.capacity_factor;
    return std::make_shared<moe::GShardTop2Router>(ro, gs);
  }
  if (r == "expert-choice") {
    ro.load_balance_coef = 0;  // balanced by construction
    moe::ExpertChoiceOptions ec;
    ec.capacity_factor = c.capacity_factor > 0 ? c.capacity_factor : 1.0;
    return std::make_shared<moe::ExpertChoiceRouter>(ro, ec);
  }
  if (r == "sigmoid-bias") return std::make_shared<moe::SigmoidBiasRouter>(ro);
  if (r == "cosine") return std::make_shared<moe::CosineRouter>(ro);
  if (r == "dense-to-sparse") return std::make_shared<moe::DenseToSparseGate>(ro);
  if (r == "top-p") {
    moe::TopPOptions tp;
    tp.top_p = c.top_p;
    return std::make_shared<moe::TopPRouter>(ro, tp);
  }
  if (r == "hash") return std::make_shared<moe::HashRouter>(ro);
  fail("--router must be one of " + join(kRouters) + ", got \"" + r + "\"");
  return nullptr;
}

}  // namespace

void to_json(nlohmann::json& j, const MoEConfig& c) {
  j = nlohmann::json{{"enabled", c.enabled},
                     {"router", c.router},
                     {"experts", c.experts},
                     {"top_k", c.top_k},
                     {"expert_hidden", c.expert_hidden},
                     {"activation", c.activation},
                     {"capacity_factor", c.capacity_factor},
                     {"drop_policy", c.drop_policy},
                     {"aux_loss_coef", c.aux_loss_coef},
                     {"z_loss_coef", c.z_loss_coef},
                     {"bias_update_rate", c.bias_update_rate},
                     {"top_p", c.top_p},
                     {"jitter", c.jitter}};
}

void from_json(const nlohmann::json& j, MoEConfig& c) {
  const MoEConfig d;
  c.enabled = j.value("enabled", d.enabled);
  c.router = j.value("router", d.router);
  c.experts = j.value("experts", d.experts);
  c.top_k = j.value("top_k", d.top_k);
  c.expert_hidden = j.value("expert_hidden", d.expert_hidden);
  c.activation = j.value("activation", d.activation);
  c.capacity_factor = j.value("capacity_factor", d.capacity_factor);
  c.drop_policy = j.value("drop_policy", d.drop_policy);
  c.aux_loss_coef = j.value("aux_loss_coef", d.aux_loss_coef);
  c.z_loss_coef = j.value("z_loss_coef", d.z_loss_coef);
  c.bias_update_rate = j.value("bias_update_rate", d.bias_update_rate);
  c.top_p = j.value("top_p", d.top_p);
  c.jitter = j.value("jitter", d.jitter);
}

void validate_moe_config(const MoEConfig& c) {
  if (std::find(kRouters.begin(), kRouters.end(), c.router) == kRouters.end())
    fail("--router must be one of " + join(kRouters) + ", got \"" + c.router + "\"");
  if (c.experts < 1) fail("--experts must be positive, got " + std::to_string(c.experts));
  if (c.top_k < 1) fail("--top-k must be positive, got " + std::to_string(c.top_k));
  if (c.top_k > c.experts)
    fail("--top-k " + std::to_string(c.top_k) + " exceeds --experts " + std::to_string(c.experts));
  if (c.router == "gshard" && c.top_k != 2)
    fail("--router gshard routes to exactly 2 experts: it needs --top-k 2, got " + std::to_string(c.top_k));
  if (c.expert_hidden < 0) fail("--expert-hidden must be >= 0 (0: twice --hidden), got " + std::to_string(c.expert_hidden));
  const std::vector<std::string> acts{"swiglu", "relu", "gelu", "silu"};
  if (std::find(acts.begin(), acts.end(), c.activation) == acts.end())
    fail("--expert-activation must be one of " + join(acts) + ", got \"" + c.activation + "\"");
  if (!std::isfinite(c.capacity_factor) || c.capacity_factor < 0)
    fail("--capacity-factor must be >= 0 (0: dropless), got " + num(c.capacity_factor));
  if (c.drop_policy != "position" && c.drop_policy != "score")
    fail("--drop-policy must be position or score, got \"" + c.drop_policy + "\"");
  for (auto [flag, v] : {std::pair{"--aux-loss-coef", c.aux_loss_coef}, {"--z-loss-coef", c.z_loss_coef},
                         {"--bias-update-rate", c.bias_update_rate}})
    if (!std::isfinite(v) || v < 0) fail(std::string(flag) + " must be >= 0, got " + num(v));
  if (!(c.top_p > 0 && c.top_p <= 1)) fail("--top-p must be in (0, 1], got " + num(c.top_p));
  if (!(c.jitter >= 0 && c.jitter < 1)) fail("--jitter must be in [0, 1), got " + num(c.jitter));
}

int64_t expert_width(const MoEConfig& c, int64_t hidden) { return c.expert_hidden > 0 ? c.expert_hidden : 2 * hidden; }

std::string describe_moe(const MoEConfig& c, int64_t hidden) {
  std::string s = "moe " + c.router + ", " + std::to_string(c.experts) + " experts";
  if (c.router == "top-p")
    s += ", p " + num(c.top_p) + " (at most " + std::to_string(c.top_k) + ")";
  else if (c.router != "expert-choice")
    s += ", top-" + std::to_string(c.top_k);
  s += ", " + c.activation + " f=" + std::to_string(expert_width(c, hidden));
  if (c.router == "expert-choice")
    s += ", capacity factor " + num(c.capacity_factor > 0 ? c.capacity_factor : 1.0);
  else if (c.capacity_factor > 0)
    s += ", capacity factor " + num(c.capacity_factor) + (c.router == "gshard" ? "" : " (drop by " + c.drop_policy + ")");
  else
    s += ", dropless";
  return s;
}

ResidualMoE::ResidualMoE(const MoEConfig& config, int64_t d_model) : UnaryModule("ResidualMoE"), config_(config) {
  validate_moe_config(config);
  moe::MoELayerOptions lo;
  lo.d_ff = expert_width(config, d_model);
  lo.activation = config.activation;
  if (!router_owns_capacity(config.router)) {
    lo.capacity.factor = config.capacity_factor;
    lo.capacity.policy = config.drop_policy == "score" ? moe::DropPolicy::kScore : moe::DropPolicy::kPosition;
  }
  moe_ = register_module("moe", std::make_shared<moe::MoELayer>(make_router(config, d_model), lo));
}

Tensor ResidualMoE::forward(const Tensor& x) { return x + (*moe_)(x); }

std::vector<std::pair<std::string, ResidualMoE*>> find_moe_blocks(nn::Module& model) {
  std::vector<std::pair<std::string, ResidualMoE*>> out;
  for (auto& [name, m] : model.named_modules())
    if (auto* block = dynamic_cast<ResidualMoE*>(m)) out.emplace_back(name + ".moe", block);
  return out;
}

void EpochRoutingStats::add(const moe::RoutingStats& s, double aux_loss) {
  if (kept_.empty()) {
    kept_.assign(static_cast<size_t>(s.num_experts), 0);
    routed_.assign(static_cast<size_t>(s.num_experts), 0);
  }
  for (size_t e = 0; e < kept_.size(); ++e) {
    kept_[e] += s.tokens_per_expert[e];
    routed_[e] += s.routed_per_expert[e];
  }
  entropy_sum_ += s.mean_entropy * static_cast<double>(s.num_tokens);
  tokens_dropped_ += s.tokens_dropped_fraction * static_cast<double>(s.num_tokens);
  tokens_ += s.num_tokens;
  aux_sum_ += aux_loss;
  ++steps_;
}

EpochRoutingStats::Totals EpochRoutingStats::totals() const {
  int64_t kept = 0, routed = 0, dead = 0, max_kept = 0;
  for (size_t e = 0; e < kept_.size(); ++e) {
    kept += kept_[e];
    routed += routed_[e];
    dead += kept_[e] == 0;
    max_kept = std::max(max_kept, kept_[e]);
  }
  const double E = static_cast<double>(kept_.size());
  const double T = static_cast<double>(std::max<int64_t>(tokens_, 1));
  Totals t{};
  t.dropped = routed > 0 ? 1.0 - static_cast<double>(kept) / static_cast<double>(routed) : 0.0;
  t.tokens_dropped = tokens_dropped_ / T;
  t.experts_per_token = static_cast<double>(kept) / T;
  t.entropy = entropy_sum_ / T;
  t.imbalance = kept > 0 ? static_cast<double>(max_kept) * E / static_cast<double>(kept) : 0.0;
  t.aux = steps_ > 0 ? aux_sum_ / static_cast<double>(steps_) : 0.0;
  t.dead = dead;
  for (int64_t k : kept_) t.load.push_back(kept > 0 ? static_cast<double>(k) / static_cast<double>(kept) : 0.0);
  return t;
}

std::string EpochRoutingStats::summary() const {
  if (steps_ == 0) return "no routing recorded";
  const Totals t = totals();
  char buf[200];
  std::snprintf(buf, sizeof buf,
                "dropped %.1f%% of slots, %.1f%% of tokens, %.2f experts/token, entropy %.2f, imbalance %.2f, "
                "dead %lld/%lld, load [",
                100 * t.dropped, 100 * t.tokens_dropped, t.experts_per_token, t.entropy, t.imbalance,
                static_cast<long long>(t.dead), static_cast<long long>(t.load.size()));
  std::string s = buf;
  for (size_t e = 0; e < t.load.size(); ++e) {
    std::snprintf(buf, sizeof buf, "%s%.0f", e ? " " : "", 100.0 * t.load[e]);
    s += buf;
  }
  std::snprintf(buf, sizeof buf, "]%%, aux %.4f", t.aux);
  return s + buf;
}

nlohmann::json EpochRoutingStats::to_json() const {
  const Totals t = totals();
  return {{"dropped_slots", t.dropped},         {"dropped_tokens", t.tokens_dropped},
          {"experts_per_token", t.experts_per_token}, {"entropy", t.entropy},
          {"imbalance", t.imbalance},           {"dead", t.dead},
          {"experts", static_cast<int64_t>(t.load.size())}, {"load", t.load},
          {"aux_loss", t.aux}};
}

}  // namespace moelab::app
