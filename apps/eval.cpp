// `moelab eval CHECKPOINT`: rebuilds the model a checkpoint describes and evaluates it.
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "checkpoint.h"
#include "commands.h"
#include "training.h"

namespace moelab::app {

int run_eval(const EvalOptions& o) {
  setup_threads(o.threads);
  Checkpoint ckpt = load_checkpoint(o.checkpoint);
  ModelConfig config;
  try {
    ckpt.config.at("model").get_to(config);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(o.checkpoint + ": the checkpoint's model config is malformed: " + e.what());
  }
  auto model = build_model(config);
  model->load_state_dict(ckpt.model);
  Split test = load_split(o.data_dir, /*train=*/false, o.test_limit);
  EvalResult r = evaluate(*model, test, o.batch_size);
  if (o.json) {
    nlohmann::json out{{"checkpoint", o.checkpoint}, {"model", config}, {"epochs", ckpt.epochs_done},
                       {"test_images", r.count}, {"test_loss", r.loss}, {"test_accuracy", r.accuracy}};
    std::cout << out.dump() << "\n";
  } else {
    std::printf("%s: %s model after %lld epochs: test loss %.4f, accuracy %.2f%% on %lld images\n", o.checkpoint.c_str(),
                config.kind.c_str(), static_cast<long long>(ckpt.epochs_done), r.loss, 100 * r.accuracy,
                static_cast<long long>(r.count));
  }
  return 0;
}

}  // namespace moelab::app
