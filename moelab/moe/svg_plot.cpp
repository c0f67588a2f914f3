#include "moelab/moe/svg_plot.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>

#include "moelab/core/error.h"
#include "moelab/nn/atomic_file.h"

namespace moelab::moe {
namespace {

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // Control characters are not allowed in XML 1.0 text; drop them.
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n') out += c;
    }
  }
  return out;
}

// Coordinates with two decimals.
std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

std::string tick_label(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", std::abs(v) < 1e-12 ? 0.0 : v);
  return buf;
}

// Ticks at multiples of a 1/2/5 x 10^n step covering [lo, hi]; lo/hi are widened to the tick grid.
std::vector<double> nice_ticks(double& lo, double& hi, int target, bool integer) {
  if (!(hi > lo)) {
    lo -= 1;
    hi += 1;
  }
  const double raw = (hi - lo) / std::max(target, 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  if (integer) step = std::max(1.0, std::round(step));
  lo = std::floor(lo / step + 1e-9) * step;
  hi = std::ceil(hi / step - 1e-9) * step;
  std::vector<double> ticks;
  for (double v = lo; v <= hi + step * 1e-6; v += step) ticks.push_back(v);
  return ticks;
}

// Tableau 10, then the same colours dashed for the next 10 experts, dotted after that.
const std::array<const char*, 10> kPalette = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                              "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
std::string line_style(int64_t e) {
  std::string s = std::string("stroke=\"") + kPalette[static_cast<size_t>(e % 10)] + "\"";
  const int64_t cycle = e / 10;
  if (cycle == 1) s += " stroke-dasharray=\"6 3\"";
  if (cycle >= 2) s += " stroke-dasharray=\"2 2\"";
  return s;
}

// Viridis at 9 stops, linearly interpolated.
std::string viridis(double t) {
  static const double stops[9][3] = {{68, 1, 84},    {71, 44, 122},  {59, 81, 139},  {44, 113, 142}, {33, 144, 141},
                                     {39, 173, 129}, {92, 200, 99},  {170, 220, 50}, {253, 231, 37}};
  t = std::clamp(std::isfinite(t) ? t : 0.0, 0.0, 1.0) * 8.0;
  const int i = std::min(static_cast<int>(t), 7);
  const double f = t - i;
  char buf[8];
  int rgb[3];
  for (int c = 0; c < 3; ++c) rgb[c] = static_cast<int>(std::lround(stops[i][c] + f * (stops[i + 1][c] - stops[i][c])));
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
  return buf;
}

std::string svg_open(double w, double h) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" +
         num(w) + "\" height=\"" + num(h) + "\" viewBox=\"0 0 " + num(w) + " " + num(h) +
         "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect x=\"0\" y=\"0\" width=\"" + num(w) + "\" height=\"" +
         num(h) + "\" fill=\"white\"/>\n";
}

std::string text(double x, double y, const std::string& s, const std::string& attrs = "") {
  return "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\"" + (attrs.empty() ? "" : " " + attrs) + ">" + xml_escape(s) +
         "</text>\n";
}

}  // namespace

std::string expert_load_svg(const RoutingTelemetry& t, const std::string& layer, const LoadPlotOptions& opts) {
  const auto& l = t.layer(layer);
  MOELAB_CHECK(!l.history.empty(), "expert_load_svg: layer '", layer, "' has no recorded steps");
  MOELAB_CHECK(opts.width >= 200 && opts.height >= 150, "expert_load_svg: the plot must be at least 200 x 150, got ",
               opts.width, " x ", opts.height);
  const int64_t E = l.num_experts;
  const size_t n = l.history.size();
  // Values [E][n].
  std::vector<std::vector<double>> y(static_cast<size_t>(E), std::vector<double>(n));
  double ymax = 0;
  for (size_t i = 0; i < n; ++i) {
    const auto& s = l.history[i].stats;
    const double total = static_cast<double>(s.kept_slots());
    for (int64_t e = 0; e < E; ++e) {
      const double c = static_cast<double>(s.tokens_per_expert[static_cast<size_t>(e)]);
      y[static_cast<size_t>(e)][i] = opts.share ? (total > 0 ? c / total : 0.0) : c;
      ymax = std::max(ymax, y[static_cast<size_t>(e)][i]);
    }
  }
  if (opts.share) ymax = std::max(ymax, 1.0 / static_cast<double>(E));
  double y0 = 0, y1 = ymax > 0 ? ymax * 1.05 : 1.0;
  const auto yticks = nice_ticks(y0, y1, 5, !opts.share);
  double x0 = static_cast<double>(l.history.front().step), x1 = static_cast<double>(l.history.back().step);
  for (const auto& en : l.history) {
    x0 = std::min(x0, static_cast<double>(en.step));
    x1 = std::max(x1, static_cast<double>(en.step));
  }
  const auto xticks = nice_ticks(x0, x1, 6, true);

  // Layout: plot area, then the legend in columns to the right.
  const double left = 70, top = 40, bottom = 50, right = 20;
  const double pw = opts.width - left - right, ph = opts.height - top - bottom;
  const int64_t rows = std::max<int64_t>(1, static_cast<int64_t>(ph / 16));
  const int64_t cols = (E + rows - 1) / rows;
  const double legend_w = 90.0 * static_cast<double>(cols);
  const double W = opts.width + legend_w, H = opts.height;
  auto px = [&](double v) { return left + (v - x0) / (x1 - x0) * pw; };
  auto py = [&](double v) { return top + ph - (v - y0) / (y1 - y0) * ph; };

  std::string svg = svg_open(W, H);
  svg += text(left + pw / 2, 22, opts.title.empty() ? "Expert load: " + layer : opts.title,
              "text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\"");
  // Grid, ticks and tick labels.
  svg += "<g stroke=\"#dddddd\" stroke-width=\"1\">\n";
  for (double v : yticks) svg += "<line x1=\"" + num(left) + "\" y1=\"" + num(py(v)) + "\" x2=\"" + num(left + pw) + "\" y2=\"" + num(py(v)) + "\"/>\n";
  for (double v : xticks) svg += "<line x1=\"" + num(px(v)) + "\" y1=\"" + num(top) + "\" x2=\"" + num(px(v)) + "\" y2=\"" + num(top + ph) + "\"/>\n";
  svg += "</g>\n<g font-size=\"11\" fill=\"#333333\">\n";
  for (double v : yticks) svg += text(left - 6, py(v) + 4, tick_label(v), "text-anchor=\"end\"");
  for (double v : xticks) svg += text(px(v), top + ph + 16, tick_label(v), "text-anchor=\"middle\"");
  svg += "</g>\n";
  // Axes and their titles.
  svg += "<g stroke=\"black\" stroke-width=\"1\">\n<line x1=\"" + num(left) + "\" y1=\"" + num(top + ph) + "\" x2=\"" +
         num(left + pw) + "\" y2=\"" + num(top + ph) + "\"/>\n<line x1=\"" + num(left) + "\" y1=\"" + num(top) +
         "\" x2=\"" + num(left) + "\" y2=\"" + num(top + ph) + "\"/>\n</g>\n";
  svg += text(left + pw / 2, H - 12, "step", "text-anchor=\"middle\"");
  const std::string ytitle = opts.share ? "share of kept slots" : "kept slots";
  svg += text(18, top + ph / 2, ytitle, "text-anchor=\"middle\" transform=\"rotate(-90 18 " + num(top + ph / 2) + ")\"");
  if (opts.share) {
    const double b = py(1.0 / static_cast<double>(E));
    svg += "<line x1=\"" + num(left) + "\" y1=\"" + num(b) + "\" x2=\"" + num(left + pw) + "\" y2=\"" + num(b) +
           "\" stroke=\"black\" stroke-width=\"1\" stroke-dasharray=\"4 4\" opacity=\"0.6\"><title>balanced: 1/E</title></line>\n";
  }
  // One polyline per expert.
  svg += "<g fill=\"none\" stroke-width=\"1.5\">\n";
  for (int64_t e = 0; e < E; ++e) {
    svg += "<polyline " + line_style(e) + " points=\"";
    for (size_t i = 0; i < n; ++i) {
      if (i) svg += ' ';
      svg += num(px(static_cast<double>(l.history[i].step))) + "," + num(py(y[static_cast<size_t>(e)][i]));
    }
    svg += "\"><title>expert " + std::to_string(e) + "</title></polyline>\n";
  }
  svg += "</g>\n";
  // Legend.
  svg += "<g font-size=\"11\">\n";
  for (int64_t e = 0; e < E; ++e) {
    const double lx = opts.width - right + 20 + 90.0 * static_cast<double>(e / rows);
    const double ly = top + 8 + 16.0 * static_cast<double>(e % rows);
    svg += "<line x1=\"" + num(lx) + "\" y1=\"" + num(ly) + "\" x2=\"" + num(lx + 22) + "\" y2=\"" + num(ly) + "\" " +
           line_style(e) + " stroke-width=\"2\"/>\n";
    svg += text(lx + 27, ly + 4, "expert " + std::to_string(e));
  }
  svg += "</g>\n</svg>\n";
  return svg;
}

std::string class_expert_heatmap_svg(const RoutingTelemetry& t, const std::string& layer, const HeatmapOptions& opts) {
  const auto& l = t.layer(layer);
  MOELAB_CHECK(l.num_classes > 0, "class_expert_heatmap_svg: layer '", layer,
               "' has no class x expert counts (record them with RoutingTelemetry::record_classes)");
  const int64_t E = l.num_experts, C = l.num_classes;
  MOELAB_CHECK(opts.class_names.empty() || static_cast<int64_t>(opts.class_names.size()) == C,
               "class_expert_heatmap_svg: class_names has ", opts.class_names.size(), " names, layer '", layer,
               "' has ", C, " classes");
  auto name = [&](int64_t c) { return opts.class_names.empty() ? std::to_string(c) : opts.class_names[static_cast<size_t>(c)]; };
  std::vector<double> v(static_cast<size_t>(C * E));
  double vmax = 0;
  for (int64_t c = 0; c < C; ++c) {
    double row = 0;
    for (int64_t e = 0; e < E; ++e) row += static_cast<double>(l.class_count(c, e));
    for (int64_t e = 0; e < E; ++e) {
      const double x = static_cast<double>(l.class_count(c, e));
      v[static_cast<size_t>(c * E + e)] = opts.row_normalize ? (row > 0 ? x / row : 0.0) : x;
      vmax = std::max(vmax, v[static_cast<size_t>(c * E + e)]);
    }
  }
  if (vmax <= 0) vmax = 1;

  size_t longest = 1;
  for (int64_t c = 0; c < C; ++c) longest = std::max(longest, name(c).size());
  const double cw = std::clamp(640.0 / static_cast<double>(E), 6.0, 44.0);
  const double ch = std::clamp(440.0 / static_cast<double>(C), 6.0, 30.0);
  const double left = 30 + 7.0 * static_cast<double>(std::min<size_t>(longest, 40)), top = 44, bottom = 56;
  const double gw = cw * static_cast<double>(E), gh = ch * static_cast<double>(C);
  const double bar_x = left + gw + 24, bar_w = 16;
  const double W = bar_x + bar_w + 70, H = top + gh + bottom;
  const bool values_in_cells = cw >= 40 && ch >= 16;

  std::string svg = svg_open(std::max(W, 320.0), H);
  const std::string title = opts.title.empty() ? "Class x expert: " + layer : opts.title;
  svg += text(left + gw / 2, 24, title, "text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\"");
  svg += "<g stroke=\"white\" stroke-width=\"0.5\">\n";
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t e = 0; e < E; ++e) {
      const double val = v[static_cast<size_t>(c * E + e)];
      svg += "<rect class=\"cell\" x=\"" + num(left + cw * static_cast<double>(e)) + "\" y=\"" +
             num(top + ch * static_cast<double>(c)) + "\" width=\"" + num(cw) + "\" height=\"" + num(ch) +
             "\" fill=\"" + viridis(val / vmax) + "\"><title>" + xml_escape(name(c)) + " / expert " +
             std::to_string(e) + ": " + tick_label(val) + " (" + std::to_string(l.class_count(c, e)) +
             " slots)</title></rect>\n";
    }
  }
  svg += "</g>\n";
  if (values_in_cells) {
    svg += "<g font-size=\"10\" text-anchor=\"middle\">\n";
    for (int64_t c = 0; c < C; ++c)
      for (int64_t e = 0; e < E; ++e) {
        const double val = v[static_cast<size_t>(c * E + e)];
        char buf[32];
        std::snprintf(buf, sizeof buf, opts.row_normalize ? "%.2f" : "%.0f", val);
        svg += text(left + cw * (static_cast<double>(e) + 0.5), top + ch * (static_cast<double>(c) + 0.5) + 3.5, buf,
                    val / vmax > 0.6 ? "fill=\"black\"" : "fill=\"white\"");
      }
    svg += "</g>\n";
  }
  // Class labels (rows) and expert labels (columns; thinned when narrow).
  svg += "<g font-size=\"11\">\n";
  for (int64_t c = 0; c < C; ++c)
    if (ch >= 9 || c % static_cast<int64_t>(std::ceil(9 / ch)) == 0)
      svg += text(left - 6, top + ch * (static_cast<double>(c) + 0.5) + 4, name(c), "text-anchor=\"end\"");
  const int64_t every = cw >= 18 ? 1 : static_cast<int64_t>(std::ceil(18 / cw));
  for (int64_t e = 0; e < E; e += every)
    svg += text(left + cw * (static_cast<double>(e) + 0.5), top + gh + 15, std::to_string(e), "text-anchor=\"middle\"");
  svg += "</g>\n";
  svg += text(left + gw / 2, top + gh + 38, "expert", "text-anchor=\"middle\"");
  svg += text(14, top + gh / 2, "class", "text-anchor=\"middle\" transform=\"rotate(-90 14 " + num(top + gh / 2) + ")\"");
  // Colour bar: a vertical gradient with ticks.
  svg += "<defs><linearGradient id=\"scale\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">\n";
  for (int i = 0; i <= 8; ++i)
    svg += "<stop offset=\"" + num(i / 8.0) + "\" stop-color=\"" + viridis(i / 8.0) + "\"/>\n";
  svg += "</linearGradient></defs>\n";
  svg += "<rect x=\"" + num(bar_x) + "\" y=\"" + num(top) + "\" width=\"" + num(bar_w) + "\" height=\"" + num(gh) +
         "\" fill=\"url(#scale)\" stroke=\"black\" stroke-width=\"0.5\"/>\n";
  double lo = 0, hi = vmax;
  auto ticks = nice_ticks(lo, hi, 4, !opts.row_normalize);
  svg += "<g font-size=\"10\">\n";
  for (double tv : ticks) {
    if (tv > vmax * (1 + 1e-9)) continue;
    const double ty = top + gh - tv / vmax * gh;
    svg += "<line x1=\"" + num(bar_x + bar_w) + "\" y1=\"" + num(ty) + "\" x2=\"" + num(bar_x + bar_w + 4) + "\" y2=\"" +
           num(ty) + "\" stroke=\"black\"/>\n";
    svg += text(bar_x + bar_w + 6, ty + 3.5, tick_label(tv));
  }
  svg += "</g>\n";
  svg += text(bar_x + bar_w / 2, top - 8, opts.row_normalize ? "share" : "slots", "text-anchor=\"middle\" font-size=\"10\"");
  svg += "</svg>\n";
  return svg;
}

void write_svg(const std::filesystem::path& path, const std::string& svg) {
  nn::atomic_write_file(path, [&](nn::AtomicFile& f) { f.write(svg.data(), svg.size()); }, "write_svg");
}

}  // namespace moelab::moe
