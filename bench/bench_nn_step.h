// Shared between bench_nn_step.cpp (moelab, built with moelab's warnings) and
// bench_nn_step_torch.cpp (libtorch, its own translation unit and compile flags): the models'
// shapes and the one set of inputs and initial weights both sides start from, as plain vectors.
#pragma once
#include <cstdint>
#include <vector>

namespace moelab::bench::nn_step {

// MLP 784-256-10 (Linear, ReLU, Linear), batch 128.
inline constexpr int64_t kMlpBatch = 128, kMlpIn = 784, kMlpHidden = 256, kMlpOut = 10;
// CNN: conv 1->32 3x3 pad 1, ReLU, conv 32->64 3x3 pad 1, ReLU, max-pool 2, flatten, Linear(64*14*14 -> 10).
inline constexpr int64_t kCnnBatch = 64, kCnnC1 = 32, kCnnC2 = 64, kCnnHw = 28, kCnnOut = 10;
// SGD options, both sides.
inline constexpr double kLr = 0.01, kMomentum = 0.9;

struct MlpData {
  std::vector<float> x;       // [128, 784]
  std::vector<int64_t> y;     // [128]
  std::vector<float> w1, b1;  // [256, 784], [256]
  std::vector<float> w2, b2;  // [10, 256], [10]
};

struct CnnData {
  std::vector<float> x;       // [64, 1, 28, 28]
  std::vector<int64_t> y;     // [64]
  std::vector<float> w1, b1;  // [32, 1, 3, 3], [32]
  std::vector<float> w2, b2;  // [64, 32, 3, 3], [64]
  std::vector<float> w3, b3;  // [10, 12544], [10]
};

// Made once by moelab (PyTorch's default initialisation of Linear and Conv2d), defined in bench_nn_step.cpp.
const MlpData& mlp_data();
const CnnData& cnn_data();

}  // namespace moelab::bench::nn_step
