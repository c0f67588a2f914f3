// safetensors interop with an independent implementation: tests/python/safetensors_interop.py
// (standard-library Python) writes a file that moelab must read, and checks the file moelab writes.
// Compiled in only when CMake found a Python 3 interpreter (MOELAB_PYTHON3 and the script path).
#ifdef MOELAB_PYTHON3
#include <sys/wait.h>

#include <cstdlib>

#include "nn/test_safetensors_util.h"
#include "support/check.h"

using namespace moelab;

namespace {

int run_script(const std::string& args) {
  std::string cmd = std::string("\"") + MOELAB_PYTHON3 + "\" \"" + MOELAB_SAFETENSORS_INTEROP_PY + "\" " + args;
  int status = std::system(cmd.c_str());
  return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The tensors the script expects (its EXPECTED table), built with moelab.
std::map<std::string, Tensor> expected_tensors() {
  // f32 goes through a transpose, so the writer's non-contiguous path is checked too.
  Tensor f32 = from_vector(std::vector<float>{-1.f, 0.5f, -0.5f, 1.f, 0.f, 1.5f}, {3, 2}).t();
  return {
      {"f32", f32},
      {"f64", from_vector(std::vector<double>{1.0 / 3.0, -2.5, 1e300})},
      {"i64", from_vector(std::vector<int64_t>{-(int64_t{1} << 40), 0, 7, int64_t{1} << 62}, {2, 2})},
      {"i32", from_vector(std::vector<int32_t>{INT32_MIN, -1, 0, INT32_MAX})},
      {"bool", from_vector(std::vector<bool>{true, false, true, true, false})},
      {"bf16", from_vector(std::vector<float>{1.f, -2.f, 0.5f}).to(kBF16)},
      {"f16", from_vector(std::vector<float>{1.f, -0.5f}).to(kF16)},
      {"empty", zeros({0, 3})},
      {"scalar", scalar(42.25)},
  };
}

}  // namespace

TEST_CASE("nn safetensors: python interop in both directions") {
  moelab::testing::TempDir dir;
  auto expected = expected_tensors();

  // Python writes (its own header layout), moelab reads.
  REQUIRE(run_script("write \"" + dir.path().string() + "\"") == 0);
  auto file = nn::load_safetensors(dir / "python_written.safetensors");
  CHECK(file.metadata == std::map<std::string, std::string>{{"format", "pt"}, {"writer", "python"}});
  REQUIRE(file.tensors.size() == expected.size());
  for (const auto& [name, e] : expected) {
    INFO("tensor " << name);
    const Tensor& a = file.tensors.at(name);
    REQUIRE(a.dtype() == e.dtype());
    REQUIRE(a.shape() == e.shape());
    CHECK(equal(a.to(is_floating(e.dtype()) ? kF64 : e.dtype()), e.to(is_floating(e.dtype()) ? kF64 : e.dtype())));
  }

  // moelab writes, Python checks header, offsets, alignment and values.
  auto mine = dir / "moelab_written.safetensors";
  nn::save_safetensors(mine, expected, {{"format", "pt"}, {"writer", "moelab"}});
  CHECK(run_script("check \"" + mine.string() + "\"") == 0);

  // The checker is not a rubber stamp: a wrong value fails it.
  expected["i32"] = from_vector(std::vector<int32_t>{INT32_MIN, -1, 1, INT32_MAX});
  nn::save_safetensors(mine, expected, {{"format", "pt"}, {"writer", "moelab"}});
  CHECK(run_script("check \"" + mine.string() + "\"") == 1);
}
#endif  // MOELAB_PYTHON3
