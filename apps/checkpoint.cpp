#include "checkpoint.h"

#include "moelab/core/error.h"
#include "moelab/nn/serialization.h"

namespace moelab::app {
namespace {

constexpr const char* kFormat = "moelab-train/1";

void put(std::map<std::string, Tensor>& out, const std::string& prefix, const std::map<std::string, Tensor>& part) {
  for (const auto& [k, v] : part) out[prefix + k] = v;
}

}  // namespace

void save_checkpoint(const std::string& path, const Checkpoint& ckpt) {
  std::map<std::string, Tensor> tensors;
  put(tensors, "model.", ckpt.model);
  put(tensors, "optimizer.", ckpt.optimizer);
  put(tensors, "scheduler.", ckpt.scheduler);
  std::map<std::string, std::string> metadata{{"format", kFormat},
                                              {"config", ckpt.config.dump()},
                                              {"epochs_done", std::to_string(ckpt.epochs_done)},
                                              {"test_accuracy", std::to_string(ckpt.test_accuracy)}};
  nn::save_safetensors(path, tensors, metadata);
}

Checkpoint load_checkpoint(const std::string& path) {
  nn::SafetensorsFile file = nn::load_safetensors(path);
  auto meta = [&](const char* key) -> const std::string& {
    auto it = file.metadata.find(key);
    MOELAB_CHECK(it != file.metadata.end(), path, ": not a moelab training checkpoint (no \"", key, "\" in its metadata)");
    return it->second;
  };
  MOELAB_CHECK(meta("format") == kFormat, path, ": checkpoint format \"", meta("format"), "\", expected \"", kFormat, "\"");
  Checkpoint ckpt;
  try {
    ckpt.config = nlohmann::json::parse(meta("config"));
    ckpt.epochs_done = std::stoll(meta("epochs_done"));
    ckpt.test_accuracy = std::stod(meta("test_accuracy"));
  } catch (const std::exception& e) {
    MOELAB_FAIL(path, ": malformed checkpoint metadata: ", e.what());
  }
  for (auto& [k, v] : file.tensors) {
    for (auto [prefix, part] : {std::pair{"model.", &ckpt.model}, {"optimizer.", &ckpt.optimizer},
                                {"scheduler.", &ckpt.scheduler}}) {
      std::string p = prefix;
      if (k.rfind(p, 0) == 0) (*part)[k.substr(p.size())] = v;
    }
  }
  return ckpt;
}

}  // namespace moelab::app
