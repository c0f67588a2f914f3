// The models `moelab train` can build, described by a small JSON-serialisable config so that a
// checkpoint carries what is needed to rebuild its model.
#pragma once
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "moe_model.h"
#include "moelab/nn/container.h"

namespace moelab::app {

struct ModelConfig {
  std::string kind = "cnn";  // "mlp" or "cnn"
  int64_t hidden = 128;      // width of the hidden layer (mlp) or of the classifier's hidden layer (cnn)
  double dropout = 0.0;
  MoEConfig moe;             // --moe: a residual MoE block after the hidden layer
};

void to_json(nlohmann::json& j, const ModelConfig& c);
void from_json(const nlohmann::json& j, ModelConfig& c);

// Input [N, 1, 28, 28] -> logits [N, 10].
//   mlp: Flatten, Linear(784, hidden), ReLU, [Dropout], Linear(hidden, 10)
//   cnn: Conv(1->32, 3x3, pad 1), ReLU, MaxPool 2, Conv(32->64, 3x3, pad 1), ReLU, MaxPool 2,
//        Flatten, Linear(3136, hidden), ReLU, [Dropout], Linear(hidden, 10)
// With moe.enabled, a ResidualMoE (h + MoELayer(h), width hidden) follows the hidden layer's ReLU.
std::shared_ptr<nn::Sequential> build_model(const ModelConfig& config);

}  // namespace moelab::app
