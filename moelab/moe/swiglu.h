// SwiGLU's gating product for expert FFNs: swiglu(gate, up) = silu(gate) * up, with
// gate = x W1 and up = x W3 (Shazeer 2020, "GLU Variants Improve Transformer"; Mixtral/LLaMA's
// w2(silu(w1 x) * w3 x)). The same value and gradients as silu(gate) * up, in one pass each way:
// - forward: one kernel, no silu(gate) temporary;
// - saves only gate and up for backward (silu(gate) * up saves gate, silu(gate) and up);
// - backward: d gate = g * up * s * (1 + gate * (1 - s)), d up = g * gate * s with s = sigmoid(gate),
//   both from one pass. Under create_graph the backward is written with differentiable ops instead,
//   so gradients of any order follow.
// CPU, f32 and f64; gate and up must share shape, dtype and device (no broadcasting).
#pragma once
#include "moelab/core/tensor.h"

namespace moelab::moe {

Tensor swiglu(const Tensor& gate, const Tensor& up);

}  // namespace moelab::moe
