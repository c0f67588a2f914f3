// Routing telemetry: statistics of hand-built decisions with known answers, history, class counts,
// CSV / JSON dumps and the SVG plots.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/check.h"

using namespace moelab;
using moe::RoutingDecision;
using moe::RoutingStats;
using moe::RoutingTelemetry;
namespace fs = std::filesystem;

namespace {

RoutingDecision decision(const Tensor& ids, const Tensor& kept, const Tensor& probs) {
  RoutingDecision d;
  d.expert_ids = ids;
  d.kept = kept;
  d.probs = probs;
  d.logits = probs;
  d.weights = gather(probs, 1, ids);
  return d;
}

// T=2, E=4, k=2: token 0 -> experts 0, 1 (both kept); token 1 -> experts 0, 2 (slot 1 dropped by
// capacity: routed but not kept).
RoutingDecision small_decision(DType dt = kF64) {
  RoutingDecision d = decision(tensor<int64_t>({{0, 1}, {0, 2}}), tensor<bool>({{true, true}, {true, false}}),
                               tensor<double>({{0.5, 0.3, 0.2, 0.0}, {0.7, 0.1, 0.1, 0.1}}).to(dt));
  d.routed = ones({2, 2}, kBool);
  return d;
}

double entropy(std::initializer_list<double> p) {
  double h = 0;
  for (double v : p) h -= v > 0 ? v * std::log(v) : 0.0;
  return h;
}

struct TempDir {
  fs::path path;
  TempDir() {
    static int counter = 0;
    path = fs::temp_directory_path() /
           ("moelab_test_telemetry_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t pos = s.find(what); pos != std::string::npos; pos = s.find(what, pos + what.size())) ++n;
  return n;
}

// A minimal XML well-formedness check: one root <svg>, every element closed in order, no stray '<'
// or '&' in text. Returns "" when fine, else what is wrong.
std::string xml_problem(const std::string& s) {
  size_t i = 0;
  if (s.rfind("<?xml", 0) == 0) i = s.find("?>") + 2;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  if (s.compare(i, 4, "<svg") != 0) return "does not start with <svg";
  std::vector<std::string> stack;
  bool closed_root = false;
  while (i < s.size()) {
    if (s[i] == '<') {
      if (closed_root) return "content after the root element";
      const size_t end = s.find('>', i);
      if (end == std::string::npos) return "unterminated tag";
      std::string tag = s.substr(i + 1, end - i - 1);
      if (tag.find('<') != std::string::npos) return "'<' inside a tag";
      if (tag[0] == '/') {
        const std::string name = tag.substr(1);
        if (stack.empty() || stack.back() != name) return "unbalanced </" + name + ">";
        stack.pop_back();
        if (stack.empty()) closed_root = true;
      } else if (tag.back() != '/') {
        stack.push_back(tag.substr(0, tag.find_first_of(" \n")));
      }
      if (count(tag, "\"") % 2 != 0) return "odd quotes in <" + tag + ">";
      i = end + 1;
    } else {
      if (s[i] == '&') {
        const size_t semi = s.find(';', i);
        const std::string ent = s.substr(i, semi - i + 1);
        if (ent != "&amp;" && ent != "&lt;" && ent != "&gt;" && ent != "&quot;" && ent != "&apos;")
          return "bad entity " + ent;
      }
      if (s[i] == '>') return "stray '>'";
      ++i;
    }
  }
  if (!stack.empty()) return "unclosed <" + stack.back() + ">";
  if (!closed_root) return "no root";
  return "";
}

RoutingTelemetry sample_telemetry() {
  RoutingTelemetry t;
  t.record("block0.moe", 0, small_decision(), 4);
  auto d = small_decision();
  d.kept = tensor<bool>({{true, true}, {true, true}});
  t.record("block0.moe", 10, d, 4);
  t.record("block1 <&> \"moe\", 2", 0, small_decision(kF32), 4);
  t.record_classes("block0.moe", tensor<int64_t>({0, 2}), small_decision(), 3);
  return t;
}

}  // namespace

TEST_CASE("moe telemetry: stats of a hand-built decision") {
  for (DType dt : {kF64, kF32}) {
    const RoutingStats s = moe::routing_stats(small_decision(dt), 4);
    CHECK(s.num_tokens == 2);
    CHECK(s.top_k == 2);
    CHECK(s.num_experts == 4);
    CHECK(s.routed_per_expert == std::vector<int64_t>{2, 1, 1, 0});
    CHECK(s.tokens_per_expert == std::vector<int64_t>{2, 1, 0, 0});
    CHECK(s.kept_slots() == 3);
    CHECK(s.routed_slots() == 4);
    CHECK(s.dropped_fraction == doctest::Approx(0.25));
    CHECK(s.tokens_dropped_fraction == 0);
    CHECK(s.dead_experts == std::vector<int64_t>{2, 3});
    CHECK(s.load_imbalance == doctest::Approx(2.0 / 0.75));
    const double h = (entropy({0.5, 0.3, 0.2, 0.0}) + entropy({0.7, 0.1, 0.1, 0.1})) / 2;
    CHECK(s.mean_entropy == doctest::Approx(h).epsilon(1e-6));
    CHECK(s.mean_top1_margin == doctest::Approx((0.2 + 0.6) / 2).epsilon(1e-6));
    CHECK(s.mean_topk_margin == doctest::Approx((0.1 + 0.0) / 2).epsilon(1e-6));
  }
  // A token with every slot dropped.
  auto d = small_decision();
  d.kept = tensor<bool>({{true, true}, {false, false}});
  const RoutingStats s = moe::routing_stats(d, 4);
  CHECK(s.tokens_dropped_fraction == doctest::Approx(0.5));
  CHECK(s.dropped_fraction == doctest::Approx(0.5));
  // No kept mask: every slot is kept.
  d.kept = Tensor();
  CHECK(moe::routing_stats(d, 4).tokens_per_expert == std::vector<int64_t>{2, 1, 1, 0});
  // A variable-k router's unused slot (kept false, no capacity ran: routed undefined) is not a drop.
  d = small_decision();
  d.routed = Tensor();
  const RoutingStats v = moe::routing_stats(d, 4);
  CHECK(v.dropped_fraction == 0);
  CHECK(v.routed_per_expert == std::vector<int64_t>{2, 1, 0, 0});
  CHECK(v.tokens_per_expert == std::vector<int64_t>{2, 1, 0, 0});
  d.routed = ones({3, 2}, kBool);
  CHECK_MOELAB_ERROR(moe::routing_stats(d, 4), "decision.routed must be bool");
}

TEST_CASE("moe telemetry: capacity drops counted through decision.routed, unused top-p slots are not") {
  manual_seed(3);
  moe::RouterOptions o;
  o.d_model = 4, o.num_experts = 4, o.top_k = 2;
  moe::TopKRouter r(o);
  const Tensor x = randn({40, 4});
  moe::RoutingDecision d = r(x);
  moe::CapacityOptions cap;
  cap.factor = 0.5;
  moe::apply_capacity(d, 4, cap);
  const RoutingStats s = moe::routing_stats(d, 4);
  CHECK(s.routed_slots() == 80);
  CHECK(s.kept_slots() == moe::kept_counts(d, 4).sum().item<int64_t>());
  CHECK(s.kept_slots() <= 4 * 10);
  CHECK(s.dropped_fraction == doctest::Approx(1.0 - static_cast<double>(s.kept_slots()) / 80.0));
  moe::TopPRouter tp(o, moe::TopPOptions{.top_p = 0.3});
  const RoutingStats t = moe::routing_stats(tp(x), 4);
  CHECK(t.dropped_fraction == 0);
  CHECK(t.routed_slots() == t.kept_slots());
  CHECK(t.kept_slots() >= 40);
}

TEST_CASE("moe telemetry: uniform probabilities give entropy log E and zero margins") {
  const int64_t T = 5, E = 8;
  auto d = decision(zeros({T, 2}, kI64) + arange(0, 2, 1, kI64), ones({T, 2}, kBool), full({T, E}, 1.0 / E, kF64));
  RoutingStats s = moe::routing_stats(d, E);
  CHECK(s.mean_entropy == doctest::Approx(std::log(8.0)));
  CHECK(s.mean_top1_margin == doctest::Approx(0.0));
  CHECK(s.mean_topk_margin == doctest::Approx(0.0));
  CHECK(s.load_imbalance == doctest::Approx(4.0));  // all on 2 of 8 experts
  CHECK(s.dead_experts.size() == 6);
  // Sigmoid-style scores that do not sum to 1 are normalised for the entropy only.
  d.probs = full({T, E}, 0.3, kF64);
  s = moe::routing_stats(d, E);
  CHECK(s.mean_entropy == doctest::Approx(std::log(8.0)));
  // k = E: the k-th margin is the smallest probability itself.
  auto d2 = decision(tensor<int64_t>({{0, 1}}), tensor<bool>({{true, true}}), tensor<double>({{0.6, 0.4}}));
  s = moe::routing_stats(d2, 2);
  CHECK(s.mean_top1_margin == doctest::Approx(0.2));
  CHECK(s.mean_topk_margin == doctest::Approx(0.4));
  CHECK(s.load_imbalance == doctest::Approx(1.0));
  CHECK(s.dead_experts.empty());
}

TEST_CASE("moe telemetry: empty batch, non-contiguous tensors and a real router") {
  auto empty = decision(zeros({0, 2}, kI64), zeros({0, 2}, kBool), zeros({0, 3}, kF32));
  const RoutingStats s = moe::routing_stats(empty, 3);
  CHECK(s.num_tokens == 0);
  CHECK(s.dropped_fraction == 0);
  CHECK(s.mean_entropy == 0);
  CHECK(s.load_imbalance == 0);
  CHECK(s.dead_experts == std::vector<int64_t>{0, 1, 2});
  // Transposed views give the same statistics as the contiguous decision.
  const auto c = small_decision();
  auto nc = decision(c.expert_ids.t().contiguous().t(), c.kept.t().contiguous().t(), c.probs.t().contiguous().t());
  CHECK_FALSE(nc.expert_ids.is_contiguous());
  const RoutingStats a = moe::routing_stats(c, 4), b = moe::routing_stats(nc, 4);
  CHECK(a.tokens_per_expert == b.tokens_per_expert);
  CHECK(a.mean_entropy == doctest::Approx(b.mean_entropy));
  CHECK(a.mean_topk_margin == doctest::Approx(b.mean_topk_margin));
  // A TopKRouter on many tokens: every slot kept, counts sum to T*k, entropy below log E.
  manual_seed(3);
  moe::RouterOptions o;
  o.d_model = 16;
  o.num_experts = 6;
  o.top_k = 2;
  moe::TopKRouter r(o);
  const auto d = r(randn({3000, 16}));
  const RoutingStats rs = moe::routing_stats(d, 6);
  CHECK(rs.kept_slots() == 6000);
  CHECK(rs.dropped_fraction == 0);
  CHECK(rs.mean_entropy > 0);
  CHECK(rs.mean_entropy < std::log(6.0));
  CHECK(rs.mean_top1_margin > 0);
  CHECK(rs.load_imbalance >= 1.0);
  // Entropy and margins agree with the same quantities computed with tensor ops.
  for (int64_t kk : {1, 3, 6}) {
    const Tensor probs = softmax(randn({7, 200}, kF64), 0).t();  // [200, 7], non-contiguous
    REQUIRE_FALSE(probs.is_contiguous());
    const auto [vals, idx] = topk(probs, kk, 1);
    const RoutingStats st = moe::routing_stats(decision(idx, ones({200, kk}, kBool), probs), 7);
    const Tensor sorted = std::get<0>(sort(probs, 1, /*descending=*/true));
    const Tensor next = kk < 7 ? sorted.select(1, kk) : zeros({200}, kF64);
    CHECK(st.mean_entropy == doctest::Approx(-sum(probs * log(probs)).item<double>() / 200).epsilon(1e-12));
    CHECK(st.mean_top1_margin == doctest::Approx(mean(sorted.select(1, 0) - sorted.select(1, 1)).item<double>()).epsilon(1e-12));
    CHECK(st.mean_topk_margin == doctest::Approx(mean(sorted.select(1, kk - 1) - next).item<double>()).epsilon(1e-12));
  }
}

TEST_CASE("moe telemetry: bad decisions are rejected") {
  auto d = small_decision();
  CHECK_MOELAB_ERROR(moe::routing_stats(d, 3), "[T, E]");
  CHECK_MOELAB_ERROR(moe::routing_stats(d, 0), "num_experts");
  auto bad = small_decision();
  bad.expert_ids = tensor<int64_t>({{0, 1}, {0, 7}});
  CHECK_MOELAB_ERROR(moe::routing_stats(bad, 4), "expert_ids must be in [0, 4)");
  bad = small_decision();
  bad.kept = tensor<bool>({true, false});
  CHECK_MOELAB_ERROR(moe::routing_stats(bad, 4), "decision.kept");
  bad = small_decision();
  bad.expert_ids = bad.expert_ids.to(kI32);
  CHECK_MOELAB_ERROR(moe::routing_stats(bad, 4), "i64");
  bad = small_decision();
  bad.probs = Tensor();
  CHECK_MOELAB_ERROR(moe::routing_stats(bad, 4), "probs is undefined");
}

TEST_CASE("moe telemetry: history, class counts and their errors") {
  RoutingTelemetry t;
  const auto d = small_decision();
  t.record("moe0", 1, d, 4);
  t.record("moe0", 2, moe::routing_stats(d, 4));
  CHECK(t.layer("moe0").history.size() == 2);
  CHECK(t.layer("moe0").history[1].step == 2);
  CHECK_MOELAB_ERROR(t.layer("nope"), "no layer 'nope' (layers: 'moe0')");
  // The expert count of a layer cannot change.
  auto d3 = decision(tensor<int64_t>({{0}}), tensor<bool>({{true}}), tensor<double>({{0.5, 0.25, 0.25}}));
  CHECK_MOELAB_ERROR(t.record("moe0", 3, d3, 3), "has 4 experts in earlier records, got 3");
  CHECK_MOELAB_ERROR(t.record_classes("moe0", tensor<int64_t>({0}), d3, 2), "has 4 experts");
  // Class x expert counts of kept slots; they accumulate.
  t.record_classes("moe0", tensor<int64_t>({0, 2}), d, 3);
  t.record_classes("moe0", tensor<int64_t>({0, 2}), d, 3);
  const auto& l = t.layer("moe0");
  CHECK(l.num_classes == 3);
  CHECK(l.class_counts == std::vector<int64_t>{2, 2, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0});
  CHECK_MOELAB_ERROR(t.record_classes("moe0", tensor<int64_t>({0, 3}), d, 3), "labels must be in [0, 3)");
  CHECK_MOELAB_ERROR(t.record_classes("moe0", tensor<int64_t>({-1, 0}), d, 3), "labels must be in [0, 3)");
  CHECK_MOELAB_ERROR(t.record_classes("moe0", tensor<int64_t>({0}), d, 3), "labels must be i64 [T]");
  CHECK_MOELAB_ERROR(t.record_classes("moe0", tensor<int32_t>({0, 1}), d, 3), "labels must be i64 [T]");
  CHECK_MOELAB_ERROR(t.record_classes("moe0", tensor<int64_t>({0, 1}), d, 4), "has 3 classes in earlier records");
  CHECK_MOELAB_ERROR(t.record("", 0, d, 4), "layer name is empty");
  // The summary table has a row per layer with its latest step.
  const std::string table = t.to_string();
  CHECK(table.find("moe0") != std::string::npos);
  CHECK(table.find("25.0%") != std::string::npos);
  std::ostringstream os;
  os << moe::routing_stats(d, 4);
  CHECK(os.str().find("tokens_per_expert=[2 1 0 0]") != std::string::npos);
}

TEST_CASE("moe telemetry: JSON round trip and CSV") {
  TempDir dir;
  const RoutingTelemetry t = sample_telemetry();
  t.to_json(dir.path / "t.json");
  const RoutingTelemetry back = RoutingTelemetry::from_json(dir.path / "t.json");
  CHECK(back.json() == t.json());
  CHECK(back.layer_names() == t.layer_names());
  const auto& a = t.layer("block0.moe").history[0].stats;
  const auto& b = back.layer("block0.moe").history[0].stats;
  CHECK(a.mean_entropy == b.mean_entropy);  // exact: doubles round-trip
  CHECK(a.tokens_per_expert == b.tokens_per_expert);
  CHECK(a.dead_experts == b.dead_experts);
  CHECK(back.layer("block0.moe").class_counts == t.layer("block0.moe").class_counts);
  CHECK(back.layer("block1 <&> \"moe\", 2").num_classes == 0);

  t.to_csv(dir.path / "t.csv");
  const std::string csv = read_file(dir.path / "t.csv");
  CHECK(count(csv, "\n") == 4);  // header + 3 rows
  CHECK(csv.rfind("layer,step,num_tokens,top_k,num_experts,dropped_fraction,", 0) == 0);
  CHECK(csv.find("\nblock0.moe,0,2,2,4,0.25,0,") != std::string::npos);
  CHECK(csv.find(",2,2 3,2 1 0 0,2 1 1 0\n") != std::string::npos);
  CHECK(csv.find("\n\"block1 <&> \"\"moe\"\", 2\",0,") != std::string::npos);

  // Errors name the file and the problem.
  CHECK_MOELAB_ERROR(RoutingTelemetry::from_json(dir.path / "missing.json"), "missing.json");
  std::ofstream(dir.path / "bad.json") << "{not json";
  CHECK_MOELAB_ERROR(RoutingTelemetry::from_json(dir.path / "bad.json"), "not valid JSON");
  std::ofstream(dir.path / "other.json") << R"({"layers": []})";
  CHECK_MOELAB_ERROR(RoutingTelemetry::from_json(dir.path / "other.json"), "not a moelab routing telemetry file");
  CHECK_MOELAB_ERROR(RoutingTelemetry::parse_json(R"({"format":"moelab.routing_telemetry","version":1,"layers":[)"
                                                  R"({"name":"x","num_experts":2,"history":[{"step":0}]}]})"),
                     "missing field \"num_tokens\"");
  CHECK_MOELAB_ERROR(RoutingTelemetry::parse_json(R"({"format":"moelab.routing_telemetry","version":1,"layers":[)"
                                                  R"({"name":"x","num_experts":3,"history":[],"class_counts":[[1,2]]}]})"),
                     "class_counts rows must have 3 entries");
  CHECK_MOELAB_ERROR(RoutingTelemetry::parse_json(R"({"format":"moelab.routing_telemetry","version":1,"layers":[)"
                                                  R"({"name":"x","num_experts":3,"history":5}]})"),
                     "\"history\" must be an array");
  CHECK_MOELAB_ERROR(RoutingTelemetry::parse_json(R"({"format":"moelab.routing_telemetry","version":2,"layers":[]})"),
                     "unsupported version 2");
}

TEST_CASE("moe telemetry: SVG load plot and heatmap are well-formed") {
  const RoutingTelemetry t = sample_telemetry();
  const std::string load = moe::expert_load_svg(t, "block0.moe");
  INFO(load);
  CHECK(xml_problem(load) == "");
  CHECK(count(load, "<polyline") == 4);
  CHECK(load.find("expert 3</text>") != std::string::npos);  // legend
  CHECK(load.find("balanced") != std::string::npos);
  moe::LoadPlotOptions counts;
  counts.share = false;
  CHECK(xml_problem(moe::expert_load_svg(t, "block0.moe", counts)) == "");
  // Names are escaped.
  const std::string odd = moe::expert_load_svg(t, "block1 <&> \"moe\", 2");
  CHECK(xml_problem(odd) == "");
  CHECK(odd.find("block1 &lt;&amp;&gt; &quot;moe&quot;, 2") != std::string::npos);

  moe::HeatmapOptions ho;
  ho.class_names = {"shirt", "<bag>", "boot"};
  const std::string heat = moe::class_expert_heatmap_svg(t, "block0.moe", ho);
  CHECK(xml_problem(heat) == "");
  CHECK(count(heat, "<rect class=\"cell\"") == 3 * 4);
  CHECK(heat.find("&lt;bag&gt;") != std::string::npos);
  CHECK(heat.find("linearGradient") != std::string::npos);
  // A wide layer: 64 experts x 10 classes.
  RoutingTelemetry wide;
  const int64_t T = 500, E = 64;
  manual_seed(5);
  const Tensor probs = softmax(randn({T, E}, kF64), 1);
  const auto d = decision(std::get<1>(topk(probs, 2, 1)), ones({T, 2}, kBool), probs);
  wide.record("w", 0, d, E);
  wide.record("w", 1, d, E);
  wide.record_classes("w", randint(0, 10, {T}), d, 10);
  CHECK(xml_problem(moe::expert_load_svg(wide, "w")) == "");
  const std::string wh = moe::class_expert_heatmap_svg(wide, "w");
  CHECK(xml_problem(wh) == "");
  CHECK(count(wh, "<rect class=\"cell\"") == 640);

  TempDir dir;
  moe::write_svg(dir.path / "h.svg", heat);
  CHECK(read_file(dir.path / "h.svg") == heat);

  CHECK_MOELAB_ERROR(moe::expert_load_svg(t, "nope"), "no layer 'nope'");
  CHECK_MOELAB_ERROR(moe::class_expert_heatmap_svg(t, "block1 <&> \"moe\", 2"), "no class x expert counts");
  ho.class_names = {"a"};
  CHECK_MOELAB_ERROR(moe::class_expert_heatmap_svg(t, "block0.moe", ho), "class_names has 1 names");
}
