// Shared between bench_moe_layer.cpp (moelab, built with moelab's warnings) and
// bench_moe_layer_torch.cpp (libtorch, its own translation unit and compile flags): the layer's
// shapes, the one set of inputs and weights both sides start from (plain vectors), and the hooks
// through which the libtorch half, when it is built, hands its step to the peak-memory and
// agreement checks in bench_moe_layer.cpp (so that file never names a libtorch symbol).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

namespace moelab::bench::moe_layer {

// The layer configurations, each benchmarked on both sides (the benchmark argument is the index):
// 0: the benchmark: T = 2048 tokens, d = 256, f = 1024, E = 8 experts, top-2;
// 1: the same layer cut into 8x finer experts as DeepSeekMoE does (each expert split in 8, and k
//    multiplied by 8): E = 64, f = 128, top-16; the same parameters and expert FLOPs, 8x as many
//    expert segments, each 8x smaller.
// SwiGLU experts, softmax -> top-k -> renormalise (HF Mixtral), forward + backward with a fixed
// output gradient.
struct Config {
  const char* name;
  int64_t T, d, f, E, k;
  // Expert FLOPs of one forward + backward: 3 GEMMs of [T*k, d] x [d, f] forward, 6 backward.
  double expert_flops() const { return 9.0 * 2.0 * static_cast<double>(T * k * d * f); }
};
inline constexpr Config kConfigs[] = {{"E=8 f=1024 top-2", 2048, 256, 1024, 8, 2},
                                      {"fine-grained E=64 f=128 top-16", 2048, 256, 128, 64, 16}};
inline constexpr int kNumConfigs = 2;

struct Data {
  std::vector<float> x;   // [T, d]
  std::vector<float> gy;  // [T, d]: the output gradient (backward of sum(out * gy))
  std::vector<float> wg;  // [E, d]: router (nn.Linear(d, E, bias=False) layout)
  std::vector<float> w1;  // [E, d, f]: gate projections (moelab layout; HF's w1[e].weight is its transpose)
  std::vector<float> w3;  // [E, d, f]: up projections
  std::vector<float> w2;  // [E, f, d]: down projections
};
const Data& data(int config);  // defined in bench_moe_layer.cpp

// A step factory: builds one implementation's state (weights, inputs) and returns its
// forward + backward step. Used in the forked peak-memory children.
using MakeStep = std::function<std::function<void()>()>;

// What the libtorch half registers (empty when libtorch is not built in), per configuration.
struct TorchSide {
  std::function<MakeStep(int config)> make_step;
  // One forward + backward; returns out [T, d], grad x [T, d] and grad wg [E, d], concatenated.
  std::function<std::vector<float>(int config)> outputs;
};
inline TorchSide& torch_side() {
  static TorchSide s;
  return s;
}

}  // namespace moelab::bench::moe_layer
