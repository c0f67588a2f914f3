// SVG 1.1 plots of routing telemetry, as plain text with no dependencies: expert load over training
// steps (one line per expert) and a class x expert heatmap.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "moelab/moe/telemetry.h"

namespace moelab::moe {

struct LoadPlotOptions {
  // true: each expert's share of the kept slots at each step (a dashed line marks the balanced 1/E);
  // false: raw kept-slot counts.
  bool share = true;
  std::string title;  // default: "Expert load: <layer>"
  int width = 760, height = 420;
};

struct HeatmapOptions {
  // true: each class's row divided by its total (the fraction of the class's slots per expert);
  // false: raw counts.
  bool row_normalize = true;
  std::vector<std::string> class_names;  // default: "0", "1", ...; otherwise one per class
  std::string title;                     // default: "Class x expert: <layer>"
};

// The SVG text. Throws moelab::Error for an unknown layer, a layer with no history (load plot) or
// no class counts (heatmap), and class_names of the wrong length.
std::string expert_load_svg(const RoutingTelemetry& t, const std::string& layer, const LoadPlotOptions& opts = {});
std::string class_expert_heatmap_svg(const RoutingTelemetry& t, const std::string& layer,
                                     const HeatmapOptions& opts = {});

// Writes text to path atomically (readers never see a half-written file).
void write_svg(const std::filesystem::path& path, const std::string& svg);

}  // namespace moelab::moe
