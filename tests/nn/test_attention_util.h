// Helpers for the attention / transformer golden tests (tests/golden/gen_attention.py).
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "support/check.h"
#include "support/golden.h"

namespace moelab::testing {

inline const Golden& attention_golden() { return Golden::get("attention"); }

// A golden mask: bool masks as they are, float masks in dt.
inline Tensor golden_mask(const std::string& key, DType dt) {
  const Golden& g = attention_golden();
  if (!g.has(key)) return {};
  const Tensor& t = g[key];
  return t.dtype() == kBool ? t : t.to(dt);
}

// Loads NAME.sd.<key> for every parameter and buffer of m (a missing golden key throws).
inline void load_golden_state(nn::Module& m, const std::string& name) {
  std::map<std::string, Tensor> sd;
  for (const auto& kv : m.state_dict()) sd[kv.first] = attention_golden()[name + ".sd." + kv.first];
  m.load_state_dict(sd);
}

// Runs a module case: inputs NAME.in.<n> (made leaves in dt), run(inputs) -> {out, weights...};
// checks NAME.out / NAME.w<i>, then the gradients NAME.d.<n> of the inputs and of the named
// parameters for the upstream gradients NAME.gout / NAME.gw<i>.
inline void check_module_case(const std::string& name, nn::Module& m, DType dt, const std::vector<std::string>& inputs,
                              const std::vector<std::string>& params,
                              const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& run) {
  const Golden& g = attention_golden();
  INFO(name << " in " << dt);
  const double rtol = dt == kF64 ? 1e-9 : 2e-4, atol = dt == kF64 ? 1e-10 : 2e-5;
  std::vector<Tensor> xs;
  for (const auto& n : inputs) {
    Tensor t = g[name + ".in." + n].to(dt).clone();
    t.requires_grad_();
    xs.push_back(t);
  }
  std::vector<Tensor> outs = run(xs);
  std::vector<Tensor> gouts{g[name + ".gout"].to(dt)};
  check_close(outs[0], g[name + ".out"].to(dt), rtol, atol);
  for (size_t i = 1; i < outs.size(); ++i) {
    const std::string k = std::to_string(i - 1);
    check_close(outs[i], g[name + ".w" + k].to(dt), rtol, atol);
    gouts.push_back(g[name + ".gw" + k].to(dt));
  }
  std::vector<Tensor> wrt = xs;
  for (const auto& p : params) wrt.push_back(m.tensor_slot(p));
  std::vector<Tensor> grads = autograd::grad(outs, wrt, gouts);
  for (size_t i = 0; i < wrt.size(); ++i) {
    const std::string n = i < inputs.size() ? inputs[i] : params[i - inputs.size()];
    INFO("gradient of " << n);
    check_close(grads[i], g[name + ".d." + n].to(dt), rtol, atol);
  }
}

}  // namespace moelab::testing
