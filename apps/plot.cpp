// `moelab plot load|heatmap TELEMETRY.json`: SVG plots of the routing telemetry that training writes.
#include <iostream>

#include "commands.h"
#include "moelab/core/error.h"
#include "moelab/moe/svg_plot.h"
#include "moelab/moe/telemetry.h"

namespace moelab::app {
namespace {

// The layer to plot: the one named, or the only one in the file.
std::string pick_layer(const moe::RoutingTelemetry& t, const PlotOptions& o) {
  const auto names = t.layer_names();
  MOELAB_CHECK(!names.empty(), o.telemetry, ": the telemetry file has no layers");
  if (!o.layer.empty()) {
    if (!t.has_layer(o.layer)) {
      std::string known;
      for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
      MOELAB_FAIL(o.telemetry, ": no layer '", o.layer, "' (--layer must be one of: ", known, ")");
    }
    return o.layer;
  }
  if (names.size() == 1) return names[0];
  std::string known;
  for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
  MOELAB_FAIL(o.telemetry, " has ", names.size(), " layers: choose one with --layer (", known, ")");
}

}  // namespace

int run_plot(const PlotOptions& o) {
  const auto t = moe::RoutingTelemetry::from_json(o.telemetry);
  const std::string layer = pick_layer(t, o);
  const auto& l = t.layer(layer);
  std::string svg;
  if (o.kind == "load") {
    moe::LoadPlotOptions lo;
    lo.share = !o.counts;
    lo.title = o.title;
    svg = moe::expert_load_svg(t, layer, lo);
  } else {
    moe::HeatmapOptions ho;
    ho.row_normalize = !o.counts;
    ho.class_names = o.class_names;
    ho.title = o.title;
    svg = moe::class_expert_heatmap_svg(t, layer, ho);
  }
  moe::write_svg(o.output, svg);
  std::cout << "wrote " << o.output << ": " << (o.kind == "load" ? "expert load over " : "class x expert counts, ")
            << (o.kind == "load" ? std::to_string(l.history.size()) + " steps" : std::to_string(l.num_classes) + " classes")
            << ", " << l.num_experts << " experts, layer " << layer << "\n";
  return 0;
}

}  // namespace moelab::app
