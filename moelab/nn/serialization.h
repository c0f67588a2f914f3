// Saving and loading a Module's parameters and buffers (its state_dict) as a safetensors file,
// like safetensors.torch.save_model / load_model. See safetensors.h for the format and
// atomic_file.h for how files are written.
#pragma once
#include <filesystem>
#include <map>
#include <string>

#include "moelab/nn/module.h"
#include "moelab/nn/safetensors.h"

namespace moelab::nn {

// Writes module.state_dict() (dotted names, values only) atomically to `path`.
void save(const Module& module, const std::filesystem::path& path,
          const std::map<std::string, std::string>& metadata = {});
// Reads `path` and copies its tensors into the module (load_state_dict: shapes must match, values
// are cast to the module's dtypes; strict: missing or unexpected keys are an Error). Returns the
// file's metadata.
std::map<std::string, std::string> load(Module& module, const std::filesystem::path& path, bool strict = true);

}  // namespace moelab::nn
