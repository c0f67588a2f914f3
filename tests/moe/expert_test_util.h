// The reference expert shared by the expert and MoE-layer tests.
#pragma once
#include <moelab/moelab.h>

namespace moelab::testing {

// Expert e of ex on rows x [n, d], from plain matmuls and unfused activations.
inline Tensor expert_ref(const moe::ExpertFFN& ex, int64_t e, const Tensor& x) {
  const Tensor h1 = matmul(x, ex.w1().select(0, e));
  Tensor h;
  switch (ex.activation()) {
    case moe::ExpertActivation::kReLU: h = relu(h1); break;
    case moe::ExpertActivation::kGELU: h = gelu(h1); break;
    case moe::ExpertActivation::kSiLU: h = silu(h1); break;
    case moe::ExpertActivation::kSwiGLU: h = silu(h1) * matmul(x, ex.w3().select(0, e)); break;
  }
  return matmul(h, ex.w2().select(0, e));
}

}  // namespace moelab::testing
