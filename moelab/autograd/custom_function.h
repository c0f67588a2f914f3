// Custom functions: a user-defined forward/backward pair that joins the graph like any op, in the
// manner of torch.autograd.Function.
//
//   auto square = [](const Tensor& x) {
//     return autograd::apply_function(
//         "square", {x},
//         [](autograd::FunctionCtx& ctx, const std::vector<Tensor>& in) {
//           ctx.save_for_backward({in[0]});
//           return std::vector<Tensor>{in[0] * in[0]};          // runs under NoGradGuard
//         },
//         [](autograd::FunctionCtx& ctx, const std::vector<Tensor>& g) {
//           return std::vector<Tensor>{g[0] * 2.0 * ctx.saved_tensors()[0]};
//         })[0];
//   };
//
// forward runs without recording; its outputs get one FunctionNode whose backward is backward_fn.
// backward_fn receives one gradient per output (zeros for outputs that did not get one) and
// returns one per input (undefined = no gradient). It runs with grad mode on under create_graph,
// so a backward written with differentiable ops gives higher-order gradients. Saved tensors are
// version-checked: modifying one in place before backward is an Error naming the function.
#pragma once
#include <any>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "moelab/autograd/node.h"
#include "moelab/core/error.h"

namespace moelab::autograd {

class FunctionCtx;
using CustomForwardFn = std::function<std::vector<Tensor>(FunctionCtx&, const std::vector<Tensor>& inputs)>;
using CustomBackwardFn = std::function<std::vector<Tensor>(FunctionCtx&, const std::vector<Tensor>& grad_outputs)>;

// What forward and backward share: saved tensors and values. One per apply_function call.
class FunctionCtx {
 public:
  // Forward only: tensors (inputs, outputs or others) that backward will need.
  void save_for_backward(std::vector<Tensor> tensors);
  // Backward only: the saved tensors, in the order given to save_for_backward.
  std::vector<Tensor> saved_tensors() const;
  // Backward only: whether input i needs a gradient (skip computing the others).
  bool needs_input_grad(size_t i) const;
  // Non-tensor values for backward (shapes, flags, scalars): ctx.set("dim", 1); ctx.get<int>("dim").
  template <class T>
  void set(const std::string& key, T value) {
    data_[key] = std::move(value);
  }
  template <class T>
  const T& get(const std::string& key) const {
    auto it = data_.find(key);
    MOELAB_CHECK(it != data_.end(), name_, ": no value saved under \"", key, "\" in the function's context");
    const T* v = std::any_cast<T>(&it->second);
    MOELAB_CHECK(v != nullptr, name_, ": the value saved under \"", key, "\" has another type");
    return *v;
  }
  const std::string& name() const { return name_; }

 private:
  friend std::vector<Tensor> apply_function(const std::string&, const std::vector<Tensor>&, const CustomForwardFn&,
                                            CustomBackwardFn);
  std::string name_;
  bool in_forward_ = false;
  std::vector<Tensor> to_save_;                  // between save_for_backward and recording
  size_t num_saved_ = 0;
  FunctionNode::Context* node_ctx_ = nullptr;    // set while backward runs
  std::map<std::string, std::any> data_;
};

// Runs forward_fn(ctx, inputs) under NoGradGuard and, when grad mode is on and an input requires
// grad, records the outputs with backward_fn as their backward. Returns the outputs. An output
// that is one of the inputs is returned as a fresh alias (so the input keeps its own history).
std::vector<Tensor> apply_function(const std::string& name, const std::vector<Tensor>& inputs,
                                   const CustomForwardFn& forward_fn, CustomBackwardFn backward_fn);

}  // namespace moelab::autograd
