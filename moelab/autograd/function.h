// How ops record themselves on the graph. An op computes its outputs without autograd, then, if
// any input requires grad and grad mode is on, calls record_op with a backward closure written
// with the same differentiable ops (so create_graph gives higher-order gradients):
//
//   Tensor out = ...forward...;
//   if (autograd::needs_grad({&x}))
//     autograd::record_op("exp", {&x}, {&out}, {autograd::SavedVariable(out, true)},
//                         [](auto& ctx, const std::vector<Tensor>& g) {
//                           return std::vector<Tensor>{g[0] * ctx.saved(0)};
//                         });
#pragma once
#include <initializer_list>
#include <vector>

#include "moelab/autograd/grad_mode.h"
#include "moelab/autograd/node.h"

namespace moelab::autograd {

// True when grad mode is on and any of the tensors requires grad.
inline bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->impl()->autograd_meta() && t->requires_grad()) return true;
  return false;
}
bool needs_grad(const std::vector<Tensor>& inputs);

// The edge a gradient for t flows along: its grad_fn, or its leaf accumulator, or none.
Edge edge_of(const Tensor& t);

// Makes a FunctionNode whose next edges are the inputs' and attaches it as grad_fn of the outputs
// (only floating outputs: integer outputs such as indices never require grad).
void record_op(const char* name, std::initializer_list<const Tensor*> inputs, std::initializer_list<Tensor*> outputs,
               std::vector<SavedVariable> saved, FunctionNode::BackwardFn backward);
void record_op(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor*>& outputs,
               std::vector<SavedVariable> saved, FunctionNode::BackwardFn backward);

// Checks that an in-place op may write into `self` under autograd: never into a leaf that requires
// grad, and (for now) never into a view when grad is being recorded.
void check_inplace(const Tensor& self, const char* op, bool recording);
// After an in-place op whose result was recorded out of place as `result`: self takes its history.
void rebase_history(const Tensor& self, const Tensor& result);

}  // namespace moelab::autograd
