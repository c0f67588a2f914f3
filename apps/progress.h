// Progress display for long loops: a one-line bar redrawn in place on a terminal, or plain lines
// (about ten per pass) when output goes to a file or a pipe.
#pragma once
#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

namespace moelab::app {

enum class ProgressStyle { kAuto, kBar, kLines, kNone };

ProgressStyle parse_progress_style(const std::string& s);

class Progress {
 public:
  Progress(std::string label, int64_t total_steps, ProgressStyle style, std::ostream& out);
  // After step `step` (1-based) of total: running loss and accuracy, samples seen so far.
  void update(int64_t step, double loss, double accuracy, int64_t samples);
  // Ends the bar's line (the last state stays visible).
  void finish();

 private:
  void draw(int64_t step, double loss, double accuracy, int64_t samples, bool final_line);

  std::string label_;
  int64_t total_;
  bool bar_;
  bool enabled_;
  std::ostream& out_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  int64_t next_line_step_ = 0;
  int64_t last_step_ = 0;
  double last_loss_ = 0, last_acc_ = 0;
  int64_t last_samples_ = 0;
};

// "1m05s", "12s", "2h03m".
std::string format_duration(double seconds);

}  // namespace moelab::app
