// The subcommands of the moelab program.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "models.h"
#include "progress.h"

namespace moelab::app {

struct TrainOptions {
  ModelConfig model;
  std::string optimizer = "adam";  // sgd | adam | adamw
  double lr = 1e-3;
  double momentum = 0.9;           // sgd only
  double weight_decay = 0;
  std::string schedule = "cosine";  // constant | cosine (per step, to 0 at the last step)
  int64_t epochs = 2;
  int64_t batch_size = 64;
  uint64_t seed = 0;
  int threads = 0;  // 0: all cores
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  std::string checkpoint = "moelab-fmnist.safetensors";
  std::string resume;       // checkpoint to continue from
  int64_t train_limit = 0;  // use only the first N training images (0: all)
  int64_t test_limit = 0;   // evaluate on the first N test images (0: all)
  ProgressStyle progress = ProgressStyle::kAuto;
  // --moe: routing telemetry JSON written after every epoch (empty: the checkpoint path with the
  // extension .telemetry.json), and how often (in steps) its history gets an entry.
  std::string telemetry;
  int64_t telemetry_every = 10;
};

struct EvalOptions {
  std::string checkpoint;
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  int64_t batch_size = 1000;
  int64_t test_limit = 0;
  int threads = 0;
  bool json = false;
  std::string telemetry;  // MoE models: write the test set's class x expert counts here (JSON)
};

struct PlotOptions {
  std::string kind;       // load | heatmap
  std::string telemetry;  // routing telemetry JSON (moe::RoutingTelemetry::to_json)
  std::string layer;      // empty: the file's only layer
  std::string output;
  bool counts = false;    // raw counts instead of shares
  std::vector<std::string> class_names;  // heatmap row labels
  std::string title;
};

int run_train(const TrainOptions& options);
int run_eval(const EvalOptions& options);
int run_plot(const PlotOptions& options);

}  // namespace moelab::app
