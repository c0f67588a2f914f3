#include "models.h"

#include <stdexcept>

#include "moelab/nn/activation.h"
#include "moelab/nn/conv.h"
#include "moelab/nn/dropout.h"
#include "moelab/nn/flatten.h"
#include "moelab/nn/linear.h"
#include "moelab/nn/pooling.h"

namespace moelab::app {

void to_json(nlohmann::json& j, const ModelConfig& c) {
  j = nlohmann::json{{"kind", c.kind}, {"hidden", c.hidden}, {"dropout", c.dropout}};
  if (c.moe.enabled) j["moe"] = c.moe;
}

void from_json(const nlohmann::json& j, ModelConfig& c) {
  j.at("kind").get_to(c.kind);
  j.at("hidden").get_to(c.hidden);
  c.dropout = j.value("dropout", 0.0);
  c.moe = j.contains("moe") ? j.at("moe").get<MoEConfig>() : MoEConfig{};
}

std::shared_ptr<nn::Sequential> build_model(const ModelConfig& c) {
  if (c.hidden <= 0) throw std::invalid_argument("--hidden must be positive");
  if (c.dropout < 0 || c.dropout >= 1) throw std::invalid_argument("--dropout must be in [0, 1)");
  auto net = std::make_shared<nn::Sequential>();
  if (c.kind == "mlp") {
    net->push_back(std::make_shared<nn::Flatten>());
    net->push_back(std::make_shared<nn::Linear>(28 * 28, c.hidden));
  } else if (c.kind == "cnn") {
    net->push_back(std::make_shared<nn::Conv2d>(1, 32, 3, 1, 1));
    net->push_back(std::make_shared<nn::ReLU>());
    net->push_back(std::make_shared<nn::MaxPool2d>(2));
    net->push_back(std::make_shared<nn::Conv2d>(32, 64, 3, 1, 1));
    net->push_back(std::make_shared<nn::ReLU>());
    net->push_back(std::make_shared<nn::MaxPool2d>(2));
    net->push_back(std::make_shared<nn::Flatten>());
    net->push_back(std::make_shared<nn::Linear>(64 * 7 * 7, c.hidden));
  } else {
    throw std::invalid_argument("--model must be mlp or cnn, got \"" + c.kind + "\"");
  }
  net->push_back(std::make_shared<nn::ReLU>());
  if (c.moe.enabled) net->push_back(std::make_shared<ResidualMoE>(c.moe, c.hidden));
  if (c.dropout > 0) net->push_back(std::make_shared<nn::Dropout>(c.dropout));
  net->push_back(std::make_shared<nn::Linear>(c.hidden, 10));
  return net;
}

}  // namespace moelab::app
