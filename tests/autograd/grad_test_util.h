// Helpers for the op-family gradient tests: f64 leaves (contiguous or not), gradcheck of a
// one-output function, and golden gradients from PyTorch (tests/golden/gen_*_grad.py).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "support/check.h"
#include "support/golden.h"

namespace moelab::testing {

using OneOutputFn = std::function<Tensor(const std::vector<Tensor>&)>;

// A contiguous f64 leaf of random values.
inline Tensor leaf64(const Shape& s) {
  Tensor t = randn(s, kF64);
  t.requires_grad_();
  return t;
}

// A non-contiguous f64 leaf of shape s: a dims-reversed permutation for 2+ dims, every other
// element of a longer tensor for 1 dim.
inline Tensor strided_leaf64(const Shape& s) {
  Tensor t;
  if (s.size() >= 2) {
    Shape r;
    Dims perm;
    for (int d = s.size() - 1; d >= 0; --d) {
      r.push_back(s[d]);
      perm.push_back(d);
    }
    t = randn(r, kF64).permute(perm);
  } else if (s.size() == 1) {
    t = randn({2 * s[0]}, kF64).slice(0, 0, std::nullopt, 2);
  } else {
    t = randn(s, kF64);
  }
  t.requires_grad_();
  return t;
}

inline bool gradcheck1(const OneOutputFn& fn, const std::vector<Tensor>& inputs) {
  return autograd::gradcheck([fn](const std::vector<Tensor>& xs) { return std::vector<Tensor>{fn(xs)}; }, inputs);
}
inline bool gradgradcheck1(const OneOutputFn& fn, const std::vector<Tensor>& inputs) {
  return autograd::gradgradcheck([fn](const std::vector<Tensor>& xs) { return std::vector<Tensor>{fn(xs)}; },
                                 inputs);
}

// Compares the gradients of fn at the golden inputs NAME.<input> (backpropagating NAME.gout) with
// PyTorch's NAME.d<input>, in f64 and f32. `file` is the golden file (e.g. "index_grad").
inline void check_golden_grad(const Golden& golden, const std::string& name, const std::vector<std::string>& inputs,
                              const OneOutputFn& fn) {
  for (DType dt : {kF64, kF32}) {
    INFO(name << " in " << dt);
    std::vector<Tensor> xs;
    for (const std::string& k : inputs) {
      Tensor t = golden[name + "." + k].to(dt).clone();
      t.requires_grad_();
      xs.push_back(t);
    }
    Tensor out = fn(xs);
    std::vector<Tensor> grads = autograd::grad({out}, xs, {golden[name + ".gout"].to(dt)});
    const double rtol = dt == kF64 ? 1e-10 : 1e-4, atol = dt == kF64 ? 1e-12 : 1e-5;
    for (size_t i = 0; i < inputs.size(); ++i) {
      INFO("gradient of " << inputs[i]);
      check_close(grads[i], golden[name + ".d" + inputs[i]].to(dt), rtol, atol);
    }
  }
}

}  // namespace moelab::testing
