#include "progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <sstream>
#include <stdexcept>

namespace moelab::app {

ProgressStyle parse_progress_style(const std::string& s) {
  if (s == "auto") return ProgressStyle::kAuto;
  if (s == "bar") return ProgressStyle::kBar;
  if (s == "lines") return ProgressStyle::kLines;
  if (s == "none") return ProgressStyle::kNone;
  throw std::invalid_argument("--progress must be auto, bar, lines or none, got \"" + s + "\"");
}

std::string format_duration(double seconds) {
  auto s = static_cast<int64_t>(std::max(0.0, seconds) + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600), static_cast<long long>(s / 60 % 60));
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  return buf;
}

Progress::Progress(std::string label, int64_t total_steps, ProgressStyle style, std::ostream& out)
    : label_(std::move(label)),
      total_(std::max<int64_t>(total_steps, 1)),
      bar_(style == ProgressStyle::kBar || (style == ProgressStyle::kAuto && isatty(STDOUT_FILENO))),
      enabled_(style != ProgressStyle::kNone),
      out_(out),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

void Progress::update(int64_t step, double loss, double accuracy, int64_t samples) {
  last_step_ = step;
  last_loss_ = loss;
  last_acc_ = accuracy;
  last_samples_ = samples;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (bar_) {
    // Redraw at most ten times a second, and always at the end.
    if (step < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    draw(step, loss, accuracy, samples, false);
  } else if (step >= next_line_step_ || step == total_) {
    next_line_step_ = step + std::max<int64_t>(total_ / 10, 1);
    draw(step, loss, accuracy, samples, true);
  }
}

void Progress::finish() {
  if (!enabled_ || !bar_) return;
  draw(last_step_, last_loss_, last_acc_, last_samples_, false);
  out_ << "\n" << std::flush;
}

void Progress::draw(int64_t step, double loss, double accuracy, int64_t samples, bool final_line) {
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = elapsed > 0 ? samples / elapsed : 0;
  double eta = step > 0 ? elapsed * static_cast<double>(total_ - step) / static_cast<double>(step) : 0;
  std::ostringstream line;
  line << label_ << " ";
  if (bar_) {
    const int width = 24;
    int filled = static_cast<int>(width * step / total_);
    line << "[" << std::string(filled, '#') << std::string(width - filled, '.') << "] ";
  }
  line << step << "/" << total_ << std::fixed << std::setprecision(4) << " loss " << loss << std::setprecision(2)
       << " acc " << 100 * accuracy << "% " << std::setprecision(0) << rate << " samples/s";
  line << (step < total_ ? " eta " + format_duration(eta) : " in " + format_duration(elapsed));
  if (bar_)
    out_ << "\r" << line.str() << "\033[K" << std::flush;
  else if (final_line)
    out_ << line.str() << "\n" << std::flush;
}

}  // namespace moelab::app
