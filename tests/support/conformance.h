// A conformance harness in the style of ggml's test-backend-ops: every registered op case runs
//   1. on every available device, compared against the CPU result, and
//   2. on the CPU with each input replaced by a non-contiguous copy (same values, transposed
//      storage), which must give the same result as the contiguous inputs.
// Cases are registered with MOELAB_CONFORMANCE_CASE in any test file.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <moelab/moelab.h>

namespace moelab::testing {

struct ConformanceCase {
  std::string name;
  std::function<std::vector<Tensor>()> make_inputs;  // CPU tensors
  std::function<Tensor(const std::vector<Tensor>&)> run;
  double rtol = 1e-5, atol = 1e-6;
};

std::vector<ConformanceCase>& conformance_cases();
bool register_conformance_case(ConformanceCase c);
// CPU plus every other device whose backend is built in (and has a device present).
std::vector<Device> available_devices();
// The same values in a layout with different strides (a transposed storage of the last two dims,
// or a strided slice for 1-D); 0-d tensors are returned as they are.
Tensor non_contiguous_copy(const Tensor& t);

}  // namespace moelab::testing

#define MOELAB_CONFORMANCE_CONCAT2(a, b) a##b
#define MOELAB_CONFORMANCE_CONCAT(a, b) MOELAB_CONFORMANCE_CONCAT2(a, b)
#define MOELAB_CONFORMANCE_CASE(...)                                       \
  static const bool MOELAB_CONFORMANCE_CONCAT(conformance_case_, __LINE__) = \
      ::moelab::testing::register_conformance_case(::moelab::testing::ConformanceCase{__VA_ARGS__})
