#include "moelab/nn/serialization.h"

#include "moelab/core/error.h"

namespace moelab::nn {

void save(const Module& module, const std::filesystem::path& path, const std::map<std::string, std::string>& metadata) {
  save_safetensors(path, module.state_dict(), metadata);
}

std::map<std::string, std::string> load(Module& module, const std::filesystem::path& path, bool strict) {
  SafetensorsFile file = load_safetensors(path);
  try {
    module.load_state_dict(file.tensors, strict);
  } catch (const Error& e) {
    MOELAB_FAIL("load \"", path.string(), "\": ", e.what());
  }
  return std::move(file.metadata);
}

}  // namespace moelab::nn
