// Helpers shared by the router tests.
#pragma once
#include <string>

#include <moelab/moelab.h>

namespace moelab::testing {

// RouterOptions with the fields every router test sets.
inline moe::RouterOptions router_options(int64_t d_model, int64_t num_experts, int64_t top_k, DType dtype = kF32) {
  moe::RouterOptions o;
  o.d_model = d_model;
  o.num_experts = num_experts;
  o.top_k = top_k;
  o.dtype = dtype;
  return o;
}

// Overwrites a module's parameter or buffer in place (no gradient recorded).
inline void set_tensor(nn::Module& m, const std::string& name, const Tensor& value) {
  NoGradGuard ng;
  m.tensor_slot(name).copy_(value);
}

}  // namespace moelab::testing
