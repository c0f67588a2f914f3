// Routing telemetry: what a router did with a batch (load per expert, drops, entropy, margins, dead
// experts), a per-layer history of it over training steps, optional class x expert counts, and
// CSV / JSON dumps (JSON reads back). The statistics are computed with tensor ops (bincount, sums,
// topk) on detached tensors; only [E]-sized results are copied out.
#pragma once
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

#include "moelab/moe/router.h"

namespace moelab::moe {

struct RoutingStats {
  int64_t num_tokens = 0;   // T
  int64_t top_k = 0;        // k (slots per token)
  int64_t num_experts = 0;  // E
  // Slots per expert: kept (decision.kept) and routed (the slots the router chose before capacity:
  // decision.routed, which apply_capacity and GShardTop2Router set, else decision.kept). A variable-k
  // router's unused slots are in neither. Length E.
  std::vector<int64_t> tokens_per_expert;
  std::vector<int64_t> routed_per_expert;
  // 1 - kept slots / routed slots: the share that capacity dropped (0 when nothing was routed).
  double dropped_fraction = 0;
  // Fraction of tokens that had a routed slot and lost all of them: they pass through the residual only.
  double tokens_dropped_fraction = 0;
  // Mean over tokens of the entropy (nats) of the token's probs row, normalised to sum 1 (so
  // sigmoid-score routers get the entropy of their normalised scores). Uniform rows give log E.
  double mean_entropy = 0;
  // Mean over tokens of p(1) - p(2) and p(k) - p(k+1), with p(i) the token's i-th largest
  // probability (of probs, not of the combine weights); a missing (k+1)-th expert (k = E) counts 0.
  double mean_top1_margin = 0;
  double mean_topk_margin = 0;
  // Experts with no kept slot, ascending.
  std::vector<int64_t> dead_experts;
  // max_e kept_e / mean_e kept_e (1 = perfectly balanced, E = all on one expert; 0 when nothing was kept).
  double load_imbalance = 0;

  int64_t kept_slots() const;
  int64_t routed_slots() const;
};

// The statistics of one routing decision with num_experts experts. Checks that the decision's
// tensors agree (ids i64 [T,k], kept bool [T,k], probs [T,E] f32/f64 with E = num_experts, ids in
// [0, E)); an undefined `kept` counts every slot as kept.
RoutingStats routing_stats(const RoutingDecision& d, int64_t num_experts);

std::ostream& operator<<(std::ostream& os, const RoutingStats& s);

// History of routing statistics per layer (layers in the order first recorded), plus optional
// class x expert counts of kept slots, for plots and logs.
class RoutingTelemetry {
 public:
  struct Entry {
    int64_t step = 0;
    RoutingStats stats;
  };
  struct Layer {
    std::string name;
    int64_t num_experts = 0;
    std::vector<Entry> history;
    // Row-major [num_classes, num_experts] counts of kept slots by token class (empty when
    // record_classes was never called for the layer).
    int64_t num_classes = 0;
    std::vector<int64_t> class_counts;
    int64_t class_count(int64_t c, int64_t e) const { return class_counts[c * num_experts + e]; }
  };

  // Appends stats at `step` to the layer's history; the layer's expert count must not change.
  void record(const std::string& layer, int64_t step, const RoutingStats& stats);
  // routing_stats(d, num_experts) then record.
  const RoutingStats& record(const std::string& layer, int64_t step, const RoutingDecision& d, int64_t num_experts);
  // Adds the decision's kept slots to the layer's [num_classes, E] counts, by token label (labels:
  // i64 [T] in [0, num_classes)). E is d.probs.size(1); num_classes must match earlier calls.
  void record_classes(const std::string& layer, const Tensor& labels, const RoutingDecision& d, int64_t num_classes);

  bool has_layer(const std::string& name) const;
  // Throws moelab::Error naming the unknown layer and the known ones.
  const Layer& layer(const std::string& name) const;
  const std::vector<Layer>& layers() const { return layers_; }
  std::vector<std::string> layer_names() const;
  bool empty() const { return layers_.empty(); }
  void clear() { layers_.clear(); }

  // One row per (layer, step): scalar statistics and space-separated per-expert lists. Atomic write.
  void to_csv(const std::filesystem::path& path) const;
  std::string csv() const;
  // Everything, including the class counts; from_json reads it back exactly. Atomic write.
  void to_json(const std::filesystem::path& path) const;
  std::string json() const;
  static RoutingTelemetry from_json(const std::filesystem::path& path);
  static RoutingTelemetry parse_json(const std::string& text, const std::string& source = "<string>");

  // A table with each layer's latest statistics.
  std::string to_string() const;

 private:
  Layer& layer_for(const std::string& name, int64_t num_experts, const char* fn);
  std::vector<Layer> layers_;
};

std::ostream& operator<<(std::ostream& os, const RoutingTelemetry& t);

}  // namespace moelab::moe
