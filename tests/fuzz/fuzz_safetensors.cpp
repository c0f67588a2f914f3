// libFuzzer target for the safetensors parser (built with -DMOELAB_FUZZ=ON and clang):
//   cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang \
//         -DMOELAB_FUZZ=ON -DMOELAB_SANITIZE=ON -DMOELAB_BUILD_TESTS=OFF -DMOELAB_BUILD_BENCH=OFF
//   cmake --build build-fuzz --target fuzz_safetensors
//   ./build-fuzz/tests/fuzz/fuzz_safetensors -dict=tests/fuzz/safetensors.dict -max_total_time=60 CORPUS_DIR
// Any input must parse or throw moelab::Error; what parses must serialize and parse again.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "moelab/nn/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  moelab::nn::SafetensorsFile file;
  try {
    file = moelab::nn::parse_safetensors(bytes, "fuzz");
  } catch (const moelab::Error&) {
    return 0;  // rejected cleanly; any other exception escapes and libFuzzer reports it
  }
  auto again = moelab::nn::parse_safetensors(moelab::nn::serialize_safetensors(file.tensors, file.metadata), "again");
  if (again.tensors.size() != file.tensors.size() || again.metadata != file.metadata) __builtin_trap();
  return 0;
}
