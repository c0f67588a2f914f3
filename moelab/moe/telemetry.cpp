#include "moelab/moe/telemetry.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <numeric>
#include <ostream>
#include <sstream>
#include <tuple>

#include "moelab/autograd/autograd.h"
#include "moelab/core/error.h"
#include "moelab/nn/atomic_file.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/indexing.h"
#include "moelab/ops/reduce.h"
#include "moelab/ops/sort.h"

namespace moelab::moe {
namespace {

using nlohmann::json;

// Checks the decision's tensors against each other and E; returns (T, k).
std::pair<int64_t, int64_t> check_decision(const RoutingDecision& d, int64_t E, const char* fn) {
  MOELAB_CHECK(E >= 1, fn, ": num_experts must be positive, got ", E);
  const Tensor& ids = d.expert_ids;
  MOELAB_CHECK(ids.defined(), fn, ": decision.expert_ids is undefined");
  MOELAB_CHECK(ids.dim() == 2 && ids.dtype() == kI64, fn, ": decision.expert_ids must be i64 [T, k], got dtype ",
               ids.dtype(), " and shape ", ids.shape());
  const int64_t T = ids.size(0), k = ids.size(1);
  MOELAB_CHECK(k >= 1, fn, ": decision.expert_ids must have at least one slot per token, got shape ", ids.shape());
  const Tensor& p = d.probs;
  MOELAB_CHECK(p.defined(), fn, ": decision.probs is undefined");
  MOELAB_CHECK(p.dim() == 2 && p.size(0) == T && p.size(1) == E, fn, ": decision.probs must be [T, E] = [", T, ", ",
               E, "] (expert_ids ", ids.shape(), ", num_experts ", E, "), got shape ", p.shape());
  MOELAB_CHECK(p.dtype() == kF32 || p.dtype() == kF64, fn, ": decision.probs must be f32 or f64, got ", p.dtype());
  if (d.kept.defined()) {
    MOELAB_CHECK(d.kept.dtype() == kBool && d.kept.shape() == ids.shape(), fn,
                 ": decision.kept must be bool with expert_ids' shape ", ids.shape(), ", got dtype ", d.kept.dtype(),
                 " and shape ", d.kept.shape());
  }
  if (d.routed.defined()) {
    MOELAB_CHECK(d.routed.dtype() == kBool && d.routed.shape() == ids.shape(), fn,
                 ": decision.routed must be bool with expert_ids' shape ", ids.shape(), ", got dtype ",
                 d.routed.dtype(), " and shape ", d.routed.shape());
  }
  if (ids.numel() > 0) {
    const int64_t lo = amin(ids).item<int64_t>(), hi = amax(ids).item<int64_t>();
    MOELAB_CHECK(lo >= 0 && hi < E, fn, ": decision.expert_ids must be in [0, ", E, "), got values in [", lo, ", ",
                 hi, "]");
  }
  return {T, k};
}

// The ids of the kept slots, 1-d.
Tensor kept_ids(const RoutingDecision& d) {
  return d.kept.defined() ? masked_select(d.expert_ids, d.kept) : d.expert_ids.reshape({-1});
}

// The slots the router chose before capacity: decision.routed, or the kept ones when no capacity ran.
Tensor routed_mask(const RoutingDecision& d) {
  return d.routed.defined() ? d.routed : d.kept.defined() ? d.kept : ones(d.expert_ids.shape(), kBool);
}
Tensor routed_ids(const RoutingDecision& d) { return masked_select(d.expert_ids, routed_mask(d)); }

// Sums over tokens of: the entropy of the row normalised to sum 1 (-sum q log q with q = p / S is
// log S - sum(p log p) / S; 0 * log 0 = 0), p(1) - p(2), and p(kk) - p(kk+1), p(i) the row's i-th
// largest value (a missing (kk+1)-th counts 0). One pass over a contiguous copy-free view when
// probs is contiguous; the kk+1 largest are kept by insertion (kk is small next to E).
std::tuple<double, double, double> entropy_and_margins(const Tensor& probs, int64_t kk) {
  const Tensor p = probs.to(kCPU).contiguous();
  const int64_t rows = p.size(0), E = p.size(1), m = std::min(kk + 1, E);
  double ent = 0, top1 = 0, topk_gap = 0;
  std::vector<double> best(static_cast<size_t>(m + 1));
  visit_dtype<DTypes::Float>(p.dtype(), "routing_stats", [&]<class T>() {
    const T* row = p.data_ptr<T>();
    for (int64_t t = 0; t < rows; ++t, row += E) {
      double sum = 0, plogp = 0;
      int64_t n = 0;  // values held in best[0..n), descending
      for (int64_t e = 0; e < E; ++e) {
        const double v = static_cast<double>(row[e]);
        sum += v;
        // The log in the probs' own type: logf for f32 probs is several times faster than log, and
        // its ~1e-7 relative error is far below what a mean entropy needs.
        if (v > 0) plogp += v * static_cast<double>(std::log(row[e]));
        if (n < m || v > best[static_cast<size_t>(n - 1)]) {
          int64_t i = n < m ? n++ : m - 1;
          for (; i > 0 && best[static_cast<size_t>(i - 1)] < v; --i)
            best[static_cast<size_t>(i)] = best[static_cast<size_t>(i - 1)];
          best[static_cast<size_t>(i)] = v;
        }
      }
      if (sum > 0) ent += std::log(sum) - plogp / sum;
      auto at = [&](int64_t i) { return i < m ? best[static_cast<size_t>(i)] : 0.0; };
      top1 += at(0) - at(1);
      topk_gap += at(kk - 1) - at(kk);
    }
  });
  return {ent, top1, topk_gap};
}

std::string fmt_double(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string join(const std::vector<int64_t>& v, char sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += sep;
    s += std::to_string(v[i]);
  }
  return s;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

json stats_to_json(int64_t step, const RoutingStats& s) {
  return json{{"step", step},
              {"num_tokens", s.num_tokens},
              {"top_k", s.top_k},
              {"tokens_per_expert", s.tokens_per_expert},
              {"routed_per_expert", s.routed_per_expert},
              {"dropped_fraction", s.dropped_fraction},
              {"tokens_dropped_fraction", s.tokens_dropped_fraction},
              {"mean_entropy", s.mean_entropy},
              {"mean_top1_margin", s.mean_top1_margin},
              {"mean_topk_margin", s.mean_topk_margin},
              {"dead_experts", s.dead_experts},
              {"load_imbalance", s.load_imbalance}};
}

template <class T>
T get_field(const json& j, const char* key, const std::string& where) {
  MOELAB_CHECK(j.is_object() && j.contains(key), "RoutingTelemetry::from_json: ", where, ": missing field \"", key,
               "\"");
  try {
    return j.at(key).get<T>();
  } catch (const json::exception& e) {
    MOELAB_FAIL("RoutingTelemetry::from_json: ", where, ": field \"", key, "\" has the wrong type (", e.what(), ")");
  }
}

}  // namespace

int64_t RoutingStats::kept_slots() const {
  return std::accumulate(tokens_per_expert.begin(), tokens_per_expert.end(), int64_t{0});
}
int64_t RoutingStats::routed_slots() const {
  return std::accumulate(routed_per_expert.begin(), routed_per_expert.end(), int64_t{0});
}

RoutingStats routing_stats(const RoutingDecision& d, int64_t num_experts) {
  const auto [T, k] = check_decision(d, num_experts, "routing_stats");
  const int64_t E = num_experts;
  NoGradGuard no_grad;
  RoutingStats s;
  s.num_tokens = T;
  s.top_k = k;
  s.num_experts = E;
  s.routed_per_expert = bincount(routed_ids(d), Tensor(), E).to_vector<int64_t>();
  s.tokens_per_expert = bincount(kept_ids(d), Tensor(), E).to_vector<int64_t>();
  const int64_t kept = s.kept_slots(), routed = s.routed_slots();
  s.dropped_fraction = routed > 0 ? 1.0 - static_cast<double>(kept) / static_cast<double>(routed) : 0.0;
  for (int64_t e = 0; e < E; ++e)
    if (s.tokens_per_expert[e] == 0) s.dead_experts.push_back(e);
  if (kept > 0) {
    const int64_t mx = *std::max_element(s.tokens_per_expert.begin(), s.tokens_per_expert.end());
    s.load_imbalance = static_cast<double>(mx) * static_cast<double>(E) / static_cast<double>(kept);
  }
  if (T == 0) return s;

  if (d.kept.defined()) {
    // Tokens the router gave a slot that capacity then took all of.
    const Tensor lost = logical_and(any(routed_mask(d), {1}), logical_not(any(d.kept, {1})));
    s.tokens_dropped_fraction = static_cast<double>(sum(lost).item<int64_t>()) / static_cast<double>(T);
  }
  // Entropy and margins in one pass over the [T, E] probabilities (no temporaries).
  const auto [ent, top1, topk_gap] = entropy_and_margins(d.probs, std::min(k, E));
  s.mean_entropy = ent / static_cast<double>(T);
  s.mean_top1_margin = top1 / static_cast<double>(T);
  s.mean_topk_margin = topk_gap / static_cast<double>(T);
  return s;
}

std::ostream& operator<<(std::ostream& os, const RoutingStats& s) {
  os << "RoutingStats(T=" << s.num_tokens << ", k=" << s.top_k << ", E=" << s.num_experts << ", tokens_per_expert=["
     << join(s.tokens_per_expert, ' ') << "], dropped=" << s.dropped_fraction << ", entropy=" << s.mean_entropy
     << ", top1_margin=" << s.mean_top1_margin << ", topk_margin=" << s.mean_topk_margin << ", dead=["
     << join(s.dead_experts, ' ') << "], imbalance=" << s.load_imbalance << ")";
  return os;
}

// ---- RoutingTelemetry ----

RoutingTelemetry::Layer& RoutingTelemetry::layer_for(const std::string& name, int64_t num_experts, const char* fn) {
  MOELAB_CHECK(!name.empty(), fn, ": the layer name is empty");
  MOELAB_CHECK(num_experts >= 1, fn, ": layer '", name, "': num_experts must be positive, got ", num_experts);
  for (Layer& l : layers_) {
    if (l.name != name) continue;
    MOELAB_CHECK(l.num_experts == num_experts, fn, ": layer '", name, "' has ", l.num_experts,
                 " experts in earlier records, got ", num_experts);
    return l;
  }
  Layer l;
  l.name = name;
  l.num_experts = num_experts;
  layers_.push_back(std::move(l));
  return layers_.back();
}

void RoutingTelemetry::record(const std::string& layer, int64_t step, const RoutingStats& stats) {
  const char* fn = "RoutingTelemetry::record";
  MOELAB_CHECK(static_cast<int64_t>(stats.tokens_per_expert.size()) == stats.num_experts &&
                   static_cast<int64_t>(stats.routed_per_expert.size()) == stats.num_experts,
               fn, ": layer '", layer, "': stats hold ", stats.tokens_per_expert.size(), " kept and ",
               stats.routed_per_expert.size(), " routed counts for ", stats.num_experts, " experts");
  layer_for(layer, stats.num_experts, fn).history.push_back({step, stats});
}

const RoutingStats& RoutingTelemetry::record(const std::string& layer, int64_t step, const RoutingDecision& d,
                                             int64_t num_experts) {
  record(layer, step, routing_stats(d, num_experts));
  for (Layer& l : layers_)
    if (l.name == layer) return l.history.back().stats;
  MOELAB_FAIL("RoutingTelemetry::record: internal error, layer '", layer, "' vanished");
}

void RoutingTelemetry::record_classes(const std::string& layer, const Tensor& labels, const RoutingDecision& d,
                                      int64_t num_classes) {
  const char* fn = "RoutingTelemetry::record_classes";
  MOELAB_CHECK(d.probs.defined() && d.probs.dim() == 2, fn, ": decision.probs must be [T, E]");
  const int64_t E = d.probs.size(1);
  const auto [T, k] = check_decision(d, E, fn);
  (void)k;
  MOELAB_CHECK(num_classes >= 1, fn, ": num_classes must be positive, got ", num_classes);
  MOELAB_CHECK(labels.defined() && labels.dim() == 1 && labels.size(0) == T && labels.dtype() == kI64, fn,
               ": labels must be i64 [T] with T = ", T, " (expert_ids ", d.expert_ids.shape(), "), got ",
               labels.defined() ? labels.shape() : Shape{}, " ", labels.defined() ? labels.dtype() : kI64);
  if (T > 0) {
    const int64_t lo = amin(labels).item<int64_t>(), hi = amax(labels).item<int64_t>();
    MOELAB_CHECK(lo >= 0 && hi < num_classes, fn, ": labels must be in [0, ", num_classes, "), got values in [", lo,
                 ", ", hi, "]");
  }
  Layer& l = layer_for(layer, E, fn);
  if (l.num_classes == 0) {
    l.num_classes = num_classes;
    l.class_counts.assign(static_cast<size_t>(num_classes * E), 0);
  }
  MOELAB_CHECK(l.num_classes == num_classes, fn, ": layer '", layer, "' has ", l.num_classes,
               " classes in earlier records, got ", num_classes);
  NoGradGuard no_grad;
  // Cell index label * E + expert for every kept slot, counted in one bincount.
  Tensor cell = labels.unsqueeze(1) * E + d.expert_ids;
  if (d.kept.defined()) cell = masked_select(cell, d.kept);
  const auto counts = bincount(cell.reshape({-1}), Tensor(), num_classes * E).to_vector<int64_t>();
  for (size_t i = 0; i < counts.size(); ++i) l.class_counts[i] += counts[i];
}

bool RoutingTelemetry::has_layer(const std::string& name) const {
  return std::any_of(layers_.begin(), layers_.end(), [&](const Layer& l) { return l.name == name; });
}

const RoutingTelemetry::Layer& RoutingTelemetry::layer(const std::string& name) const {
  for (const Layer& l : layers_)
    if (l.name == name) return l;
  std::string known;
  for (const Layer& l : layers_) known += (known.empty() ? "'" : ", '") + l.name + "'";
  MOELAB_FAIL("RoutingTelemetry: no layer '", name, "' (layers: ", known.empty() ? "none" : known, ")");
}

std::vector<std::string> RoutingTelemetry::layer_names() const {
  std::vector<std::string> names;
  for (const Layer& l : layers_) names.push_back(l.name);
  return names;
}

std::string RoutingTelemetry::csv() const {
  std::string out =
      "layer,step,num_tokens,top_k,num_experts,dropped_fraction,tokens_dropped_fraction,mean_entropy,"
      "mean_top1_margin,mean_topk_margin,load_imbalance,num_dead,dead_experts,tokens_per_expert,routed_per_expert\n";
  for (const Layer& l : layers_) {
    for (const Entry& e : l.history) {
      const RoutingStats& s = e.stats;
      out += csv_field(l.name) + ',' + std::to_string(e.step) + ',' + std::to_string(s.num_tokens) + ',' +
             std::to_string(s.top_k) + ',' + std::to_string(s.num_experts) + ',' + fmt_double(s.dropped_fraction) +
             ',' + fmt_double(s.tokens_dropped_fraction) + ',' + fmt_double(s.mean_entropy) + ',' +
             fmt_double(s.mean_top1_margin) + ',' + fmt_double(s.mean_topk_margin) + ',' +
             fmt_double(s.load_imbalance) + ',' + std::to_string(s.dead_experts.size()) + ',' +
             join(s.dead_experts, ' ') + ',' + join(s.tokens_per_expert, ' ') + ',' +
             join(s.routed_per_expert, ' ') + '\n';
    }
  }
  return out;
}

void RoutingTelemetry::to_csv(const std::filesystem::path& path) const {
  const std::string text = csv();
  nn::atomic_write_file(path, [&](nn::AtomicFile& f) { f.write(text.data(), text.size()); },
                        "RoutingTelemetry::to_csv");
}

std::string RoutingTelemetry::json() const {
  nlohmann::json layers = nlohmann::json::array();
  for (const Layer& l : layers_) {
    nlohmann::json hist = nlohmann::json::array();
    for (const Entry& e : l.history) hist.push_back(stats_to_json(e.step, e.stats));
    nlohmann::json jl{{"name", l.name}, {"num_experts", l.num_experts}, {"history", std::move(hist)}};
    if (l.num_classes > 0) {
      nlohmann::json rows = nlohmann::json::array();
      for (int64_t c = 0; c < l.num_classes; ++c)
        rows.push_back(std::vector<int64_t>(l.class_counts.begin() + c * l.num_experts,
                                            l.class_counts.begin() + (c + 1) * l.num_experts));
      jl["class_counts"] = std::move(rows);
    }
    layers.push_back(std::move(jl));
  }
  nlohmann::json root{{"format", "moelab.routing_telemetry"}, {"version", 1}, {"layers", std::move(layers)}};
  return root.dump(1) + "\n";
}

void RoutingTelemetry::to_json(const std::filesystem::path& path) const {
  const std::string text = json();
  nn::atomic_write_file(path, [&](nn::AtomicFile& f) { f.write(text.data(), text.size()); },
                        "RoutingTelemetry::to_json");
}

RoutingTelemetry RoutingTelemetry::parse_json(const std::string& text, const std::string& source) {
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    MOELAB_FAIL("RoutingTelemetry::from_json: ", source, " is not valid JSON (", e.what(), ")");
  }
  MOELAB_CHECK(root.is_object() && root.value("format", std::string()) == "moelab.routing_telemetry", "RoutingTelemetry::from_json: ",
               source, " is not a moelab routing telemetry file (no \"format\": \"moelab.routing_telemetry\")");
  const auto version = get_field<int64_t>(root, "version", source);
  MOELAB_CHECK(version == 1, "RoutingTelemetry::from_json: ", source, ": unsupported version ", version);
  MOELAB_CHECK(root.contains("layers") && root["layers"].is_array(), "RoutingTelemetry::from_json: ", source,
               ": \"layers\" must be an array");
  RoutingTelemetry t;
  for (const auto& jl : root["layers"]) {
    const std::string name = get_field<std::string>(jl, "name", source + " layer");
    const std::string where = source + " layer '" + name + "'";
    const auto E = get_field<int64_t>(jl, "num_experts", where);
    MOELAB_CHECK(!t.has_layer(name), "RoutingTelemetry::from_json: ", source, ": layer '", name, "' appears twice");
    Layer& l = t.layer_for(name, E, "RoutingTelemetry::from_json");
    const auto history = get_field<nlohmann::json>(jl, "history", where);
    MOELAB_CHECK(history.is_array(), "RoutingTelemetry::from_json: ", where, ": \"history\" must be an array");
    for (const auto& je : history) {
      Entry e;
      e.step = get_field<int64_t>(je, "step", where);
      RoutingStats& s = e.stats;
      s.num_experts = E;
      s.num_tokens = get_field<int64_t>(je, "num_tokens", where);
      s.top_k = get_field<int64_t>(je, "top_k", where);
      s.tokens_per_expert = get_field<std::vector<int64_t>>(je, "tokens_per_expert", where);
      s.routed_per_expert = get_field<std::vector<int64_t>>(je, "routed_per_expert", where);
      s.dropped_fraction = get_field<double>(je, "dropped_fraction", where);
      s.tokens_dropped_fraction = get_field<double>(je, "tokens_dropped_fraction", where);
      s.mean_entropy = get_field<double>(je, "mean_entropy", where);
      s.mean_top1_margin = get_field<double>(je, "mean_top1_margin", where);
      s.mean_topk_margin = get_field<double>(je, "mean_topk_margin", where);
      s.dead_experts = get_field<std::vector<int64_t>>(je, "dead_experts", where);
      s.load_imbalance = get_field<double>(je, "load_imbalance", where);
      MOELAB_CHECK(static_cast<int64_t>(s.tokens_per_expert.size()) == E &&
                       static_cast<int64_t>(s.routed_per_expert.size()) == E,
                   "RoutingTelemetry::from_json: ", where, " step ", e.step, ": expected ", E,
                   " per-expert counts, got ", s.tokens_per_expert.size(), " and ", s.routed_per_expert.size());
      l.history.push_back(std::move(e));
    }
    if (jl.contains("class_counts")) {
      const auto rows = get_field<std::vector<std::vector<int64_t>>>(jl, "class_counts", where);
      for (const auto& r : rows)
        MOELAB_CHECK(static_cast<int64_t>(r.size()) == E, "RoutingTelemetry::from_json: ", where,
                     ": class_counts rows must have ", E, " entries, got ", r.size());
      l.num_classes = static_cast<int64_t>(rows.size());
      for (const auto& r : rows) l.class_counts.insert(l.class_counts.end(), r.begin(), r.end());
    }
  }
  return t;
}

RoutingTelemetry RoutingTelemetry::from_json(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  MOELAB_CHECK(in.good(), "RoutingTelemetry::from_json: cannot open ", path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_json(ss.str(), path.string());
}

std::string RoutingTelemetry::to_string() const {
  std::ostringstream os;
  os << std::left << std::setw(16) << "layer" << std::right << std::setw(8) << "step" << std::setw(8) << "tokens"
     << std::setw(9) << "dropped" << std::setw(16) << "entropy/logE" << std::setw(8) << "top1" << std::setw(8)
     << "topk" << std::setw(10) << "imbalance" << std::setw(6) << "dead" << "  load\n";
  for (const Layer& l : layers_) {
    if (l.history.empty()) continue;
    const Entry& e = l.history.back();
    const RoutingStats& s = e.stats;
    std::ostringstream ent;
    ent << std::fixed << std::setprecision(3) << s.mean_entropy << "/" << std::log(static_cast<double>(l.num_experts));
    os << std::left << std::setw(16) << l.name << std::right << std::setw(8) << e.step << std::setw(8) << s.num_tokens
       << std::fixed << std::setprecision(1) << std::setw(8) << 100.0 * s.dropped_fraction << "%" << std::setw(16)
       << ent.str() << std::setprecision(3) << std::setw(8) << s.mean_top1_margin << std::setw(8)
       << s.mean_topk_margin << std::setprecision(2) << std::setw(10) << s.load_imbalance << std::setw(6)
       << s.dead_experts.size() << "  " << join(s.tokens_per_expert, ' ') << "\n";
  }
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const RoutingTelemetry& t) { return os << t.to_string(); }

}  // namespace moelab::moe
