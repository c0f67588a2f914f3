// Shared by tests/nn/test_layers*.cpp: runs a layer on the golden input of tests/golden/layers.txt
// (written by gen_layers.py) with PyTorch's parameters copied in, and compares the output and the
// gradients of sum(y * gy) for the input and every parameter.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "support/check.h"
#include "support/conformance.h"
#include "support/golden.h"

namespace moelab::testing {

inline const Golden& layers_golden() { return Golden::get("layers"); }

using LayerFactory = std::function<std::shared_ptr<nn::UnaryModule>(DType)>;
using LayerForward = std::function<Tensor(nn::UnaryModule&, const Tensor&)>;

// f64 with a non-contiguous input (rtol 1e-9), then f32 (rtol 1e-4).
inline void check_golden_layer(const std::string& name, const LayerFactory& make, const LayerForward& fwd = {}) {
  const Golden& g = layers_golden();
  for (DType dt : {kF64, kF32}) {
    INFO(name << " in " << dt);
    std::shared_ptr<nn::UnaryModule> m = make(dt);
    std::map<std::string, Tensor> state;
    for (const auto& [k, p] : m->named_parameters()) state[k] = g[name + "." + k].to(dt);
    m->load_state_dict(state);
    Tensor x = g[name + ".x"].to(dt);
    if (dt == kF64) {
      x = non_contiguous_copy(x.clone());
      CHECK((!x.is_contiguous() || x.numel() <= 1));
    }
    x = x.detach();
    x.requires_grad_();
    Tensor y = fwd ? fwd(*m, x) : m->forward(x);
    const double rtol = dt == kF64 ? 1e-9 : 1e-4, atol = dt == kF64 ? 1e-11 : 1e-5;
    check_close(y, g[name + ".y"].to(dt), rtol, atol);
    std::vector<Tensor> inputs{x};
    auto named = m->named_parameters();
    for (const auto& kv : named) inputs.push_back(kv.second);
    std::vector<Tensor> grads = autograd::grad({y}, inputs, {g[name + ".gy"].to(dt)});
    {
      INFO("gradient of the input");
      check_close(grads[0], g[name + ".dx"].to(dt), rtol, atol);
    }
    for (size_t i = 0; i < named.size(); ++i) {
      INFO("gradient of " << named[i].first);
      check_close(grads[i + 1], g[name + ".d" + named[i].first].to(dt), rtol, atol);
    }
  }
}

}  // namespace moelab::testing
