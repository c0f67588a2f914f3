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

// The benchmark: T = 2048 tokens, d = 256, f = 1024, E = 8 experts, top-2, SwiGLU experts,
// softmax -> top-k -> renormalise (HF Mixtral), forward + backward with a fixed output gradient.
inline constexpr int64_t kT = 2048, kD = 256, kF = 1024, kE = 8, kK = 2;
// Expert FLOPs of one forward + backward: 3 GEMMs of [T*k, d] x [d, f] forward, 6 backward.
inline constexpr double kExpertFlops = 9.0 * 2.0 * kT * kK * kD * kF;

struct Data {
  std::vector<float> x;   // [T, d]
  std::vector<float> gy;  // [T, d]: the output gradient (backward of sum(out * gy))
  std::vector<float> wg;  // [E, d]: router (nn.Linear(d, E, bias=False) layout)
  std::vector<float> w1;  // [E, d, f]: gate projections (moelab layout; HF's w1[e].weight is its transpose)
  std::vector<float> w3;  // [E, d, f]: up projections
  std::vector<float> w2;  // [E, f, d]: down projections
};
const Data& data();  // defined in bench_moe_layer.cpp

// A step factory: builds one implementation's state (weights, inputs) and returns its
// forward + backward step. Used in the forked peak-memory children.
using MakeStep = std::function<std::function<void()>()>;

// What the libtorch half registers (empty when libtorch is not built in).
struct TorchSide {
  MakeStep make_step;
  // One forward + backward; returns out [T, d], grad x [T, d] and grad wg [E, d], concatenated.
  std::function<std::vector<float>()> outputs;
};
inline TorchSide& torch_side() {
  static TorchSide s;
  return s;
}

}  // namespace moelab::bench::moe_layer
