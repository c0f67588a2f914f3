// Training checkpoints: one safetensors file with the model's state ("model.*"), the optimizer's
// ("optimizer.*") and the schedule's ("scheduler.*") tensors, and metadata holding the run's
// configuration as JSON and the number of finished epochs. Written atomically.
#pragma once
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "moelab/core/tensor.h"

namespace moelab::app {

struct Checkpoint {
  nlohmann::json config;       // the TrainOptions that matter for resuming, and "model"
  int64_t epochs_done = 0;
  double test_accuracy = 0;
  std::map<std::string, Tensor> model, optimizer, scheduler;
};

void save_checkpoint(const std::string& path, const Checkpoint& ckpt);
// Errors name the file and what is missing.
Checkpoint load_checkpoint(const std::string& path);

}  // namespace moelab::app
