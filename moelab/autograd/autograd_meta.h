// Per-tensor autograd state, attached to a TensorImpl only once autograd touches the tensor.
#pragma once
#include <vector>

#include "moelab/autograd/node.h"

namespace moelab {

struct AutogradMeta {
  bool requires_grad = false;  // set by the user on leaves
  bool retains_grad = false;
  int retain_grad_handle = 0;  // the pre-hook on grad_fn that implements retain_grad
  Tensor grad;
  Ref<autograd::Node> grad_fn;
  uint32_t output_nr = 0;
  // The leaf's AccumulateGrad while a graph that uses it is alive (the node clears this when it
  // dies), so that every use of the leaf in one graph feeds one node and its hooks run once.
  autograd::AccumulateGrad* grad_accumulator = nullptr;
  struct Hook {
    int handle;
    autograd::TensorHook fn;
  };
  std::vector<Hook> hooks;  // leaf hooks; non-leaf hooks live on grad_fn as pre-hooks
};

namespace autograd {
// The meta of t, created on first use.
AutogradMeta& ensure_meta(const Tensor& t);
inline AutogradMeta* meta_of(const Tensor& t) { return t.defined() ? t.impl()->autograd_meta() : nullptr; }
}  // namespace autograd

}  // namespace moelab
