// The SwiGLU expert FFN over dispatched rows as one differentiable primitive:
//   grouped_swiglu_ffn(xs, w1, w3, w2, offsets)
//     = grouped_matmul(swiglu(grouped_matmul(xs, w1), grouped_matmul(xs, w3)), w2)
// with xs [N, d] (expert-major rows from dispatch), w1, w3 [E, d, f], w2 [E, f, d], offsets as in
// grouped_matmul (E + 1 entries). Same values and gradients as the composition; what it saves:
// - forward keeps only xs, a1 = xs w1 and a3 = xs w3 for backward (the composition also keeps
//   h = swiglu(a1, a3), [N, f]), and makes h expert by expert in one [rows of one expert, f] buffer;
// - backward runs expert by expert: h_e is recomputed, then gw2[e], gh_e, d a1_e and d a3_e (in
//   place), gw1[e], gw3[e] and gxs_e, so its temporaries are two [rows of one expert, f] buffers
//   instead of four [N, f] ones. This keeps the layer's peak memory below the per-expert-loop
//   form's (HF Mixtral), where the composition of whole-tensor primitives would exceed it.
// Under create_graph the backward is the composition's, written with differentiable ops
// (grouped_matmul, swiglu's formula), so gradients of any order follow. CPU, f32 and f64.
#pragma once
#include <cstdint>
#include <vector>

#include "moelab/core/tensor.h"

namespace moelab::moe {

Tensor grouped_swiglu_ffn(const Tensor& xs, const Tensor& w1, const Tensor& w3, const Tensor& w2,
                          const std::vector<int64_t>& offsets);

}  // namespace moelab::moe
