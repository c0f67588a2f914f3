// `moelab eval CHECKPOINT`: rebuilds the model a checkpoint describes and evaluates it; for an MoE
// model, with the routing statistics of each MoE layer over the test set (and, with --telemetry,
// its class x expert counts for `moelab plot heatmap`).
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "checkpoint.h"
#include "commands.h"
#include "moe_model.h"
#include "moelab/moe/telemetry.h"
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
  const std::vector<std::pair<std::string, ResidualMoE*>> blocks = find_moe_blocks(*model);
  if (blocks.empty() && !o.telemetry.empty())
    throw std::invalid_argument("--telemetry: " + o.checkpoint + " holds a model without MoE layers");
  std::vector<EpochRoutingStats> routing(blocks.size());
  moe::RoutingTelemetry telemetry;
  const EvalResult r = evaluate(*model, test, o.batch_size, [&](const Tensor& labels) {
    for (size_t i = 0; i < blocks.size(); ++i) {
      moe::MoELayer& layer = blocks[i].second->layer();
      const moe::RoutingDecision& d = layer.last_decision();
      routing[i].add(moe::routing_stats(d, layer.num_experts()), layer.aux_loss().item<double>());
      if (!o.telemetry.empty()) telemetry.record_classes(blocks[i].first, labels, d, 10);
    }
  });
  if (!o.telemetry.empty()) telemetry.to_json(o.telemetry);
  if (o.json) {
    nlohmann::json out{{"checkpoint", o.checkpoint}, {"model", config}, {"epochs", ckpt.epochs_done},
                       {"test_images", r.count}, {"test_loss", r.loss}, {"test_accuracy", r.accuracy}};
    if (!blocks.empty()) {
      nlohmann::json layers = nlohmann::json::object();
      for (size_t i = 0; i < blocks.size(); ++i) layers[blocks[i].first] = routing[i].to_json();
      out["routing"] = layers;
    }
    std::cout << out.dump() << "\n";
  } else {
    std::printf("%s: %s model after %lld epochs: test loss %.4f, accuracy %.2f%% on %lld images\n", o.checkpoint.c_str(),
                config.kind.c_str(), static_cast<long long>(ckpt.epochs_done), r.loss, 100 * r.accuracy,
                static_cast<long long>(r.count));
    for (size_t i = 0; i < blocks.size(); ++i)
      std::printf("  moe %s: %s\n", blocks[i].first.c_str(), routing[i].summary().c_str());
    if (!o.telemetry.empty()) std::printf("class x expert counts of the test set: %s\n", o.telemetry.c_str());
  }
  return 0;
}

}  // namespace moelab::app
