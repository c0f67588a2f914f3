// Grad mode: a thread-local switch. Under NoGradGuard nothing is recorded and no autograd cost is
// paid; EnableGradGuard turns recording back on inside such a region.
#pragma once

namespace moelab::autograd {

class GradMode {
 public:
  static bool is_enabled() { return enabled_; }
  static void set_enabled(bool e) { enabled_ = e; }

 private:
  static thread_local inline bool enabled_ = true;
};

class GradModeGuard {
 public:
  explicit GradModeGuard(bool enabled) : prev_(GradMode::is_enabled()) { GradMode::set_enabled(enabled); }
  ~GradModeGuard() { GradMode::set_enabled(prev_); }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool prev_;
};

struct NoGradGuard : GradModeGuard {
  NoGradGuard() : GradModeGuard(false) {}
};
struct EnableGradGuard : GradModeGuard {
  EnableGradGuard() : GradModeGuard(true) {}
};

// Anomaly mode: when on, a NaN or Inf produced by a backward function is reported as an Error
// naming the node that produced it.
class AnomalyMode {
 public:
  static bool is_enabled() { return enabled_; }
  static void set_enabled(bool e) { enabled_ = e; }

 private:
  static thread_local inline bool enabled_ = false;
};

struct DetectAnomalyGuard {
  DetectAnomalyGuard() : prev_(AnomalyMode::is_enabled()) { AnomalyMode::set_enabled(true); }
  ~DetectAnomalyGuard() { AnomalyMode::set_enabled(prev_); }
  DetectAnomalyGuard(const DetectAnomalyGuard&) = delete;
  DetectAnomalyGuard& operator=(const DetectAnomalyGuard&) = delete;

 private:
  bool prev_;
};

}  // namespace moelab::autograd

namespace moelab {
using autograd::EnableGradGuard;
using autograd::NoGradGuard;
}  // namespace moelab
