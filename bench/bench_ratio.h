// Benchmarks print ratios against a reference measured in the same run. Register pairs with
// MOELAB_BENCH_RATIO("label", "BM_ours", "BM_reference", "what the ratio must satisfy"), then use
// MOELAB_BENCH_MAIN() instead of BENCHMARK_MAIN(): after the normal report it prints, per pair,
// ours/reference time (and the inverse), so the figure to quote never mixes runs.
#pragma once
#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace moelab::bench {

struct RatioPair {
  std::string label, ours, reference, target;
};

inline std::vector<RatioPair>& ratio_pairs() {
  static std::vector<RatioPair> pairs;
  return pairs;
}

inline bool add_ratio(std::string label, std::string ours, std::string ref, std::string target) {
  ratio_pairs().push_back({std::move(label), std::move(ours), std::move(ref), std::move(target)});
  return true;
}

// Wraps the console reporter and remembers each run's real time per iteration (ns).
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs)
      if (r.run_type == Run::RT_Iteration || r.aggregate_name == "median")
        times_[r.run_name.str()] = r.GetAdjustedRealTime() * unit_ns(r.time_unit);
    ConsoleReporter::ReportRuns(runs);
  }
  // A benchmark's real time per iteration in ns (the median where repeated), -1 if it did not run.
  double time_ns(const std::string& name) const {
    auto it = times_.find(name);
    return it == times_.end() ? -1.0 : it->second;
  }
  void print_ratios() const {
    std::printf("\nratios (same run; time per iteration, ours / reference):\n");
    for (const auto& p : ratio_pairs()) {
      auto a = times_.find(p.ours), b = times_.find(p.reference);
      if (a == times_.end() || b == times_.end()) {
        std::printf("  %-40s  (not run)\n", p.label.c_str());
        continue;
      }
      std::printf("  %-40s ours %10.1f ns  ref %10.1f ns  ratio %.3f  (ref/ours %.3f)  target: %s\n",
                  p.label.c_str(), a->second, b->second, a->second / b->second, b->second / a->second,
                  p.target.c_str());
    }
  }

 private:
  static double unit_ns(benchmark::TimeUnit u) {
    switch (u) {
      case benchmark::kNanosecond: return 1;
      case benchmark::kMicrosecond: return 1e3;
      case benchmark::kMillisecond: return 1e6;
      default: return 1e9;
    }
  }
  std::map<std::string, double> times_;
};

}  // namespace moelab::bench

#define MOELAB_BENCH_CONCAT2(a, b) a##b
#define MOELAB_BENCH_CONCAT(a, b) MOELAB_BENCH_CONCAT2(a, b)
#define MOELAB_BENCH_RATIO(label, ours, ref, target)                              \
  static const bool MOELAB_BENCH_CONCAT(moelab_ratio_, __LINE__) =                \
      ::moelab::bench::add_ratio(label, ours, ref, target)

#define MOELAB_BENCH_MAIN()                                        \
  int main(int argc, char** argv) {                                \
    ::benchmark::Initialize(&argc, argv);                          \
    ::moelab::bench::RatioReporter reporter;                       \
    ::benchmark::RunSpecifiedBenchmarks(&reporter);                \
    reporter.print_ratios();                                       \
    ::benchmark::Shutdown();                                       \
    return 0;                                                      \
  }
