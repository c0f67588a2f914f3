// Module: the base of every layer. It owns named parameters (leaf tensors that require grad),
// buffers (state that is saved but not trained, e.g. running statistics) and child modules, in
// registration order, and gives them back recursively with dotted names ("block.0.weight").
#pragma once
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "moelab/core/tensor.h"

namespace moelab::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  explicit Module(std::string type_name = "Module") : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  const std::string& type_name() const { return type_name_; }

  // ---- registration (names: non-empty, no '.', unique within the module) ----
  Tensor& register_parameter(const std::string& name, Tensor t, bool requires_grad = true);
  Tensor& register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    add_child(name, m);
    return m;
  }

  // ---- access ----
  std::vector<Tensor> parameters(bool recurse = true) const;
  NamedTensors named_parameters(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  NamedTensors named_buffers(bool recurse = true) const;
  std::vector<std::shared_ptr<Module>> children() const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const;
  // This module ("") and every descendant, depth first, with dotted names.
  std::vector<std::pair<std::string, Module*>> named_modules();

  // ---- modes and helpers ----
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad(bool set_to_none = true);
  // Freezes (false) or unfreezes every parameter.
  void requires_grad_(bool requires_grad);
  // fn on every module, children first, then this one (as PyTorch's Module.apply).
  void apply(const std::function<void(Module&)>& fn);

  // ---- state ----
  // Parameters and buffers by dotted name, detached (they share storage with the module).
  std::map<std::string, Tensor> state_dict() const;
  // Copies values into the module's tensors. strict: missing or unexpected keys are an Error that
  // lists them; a shape mismatch is always an Error naming the key and both shapes.
  void load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true);

  // The registered slot of a parameter or buffer by dotted name ("block.0.weight"); an Error if
  // there is none. Layers read their tensors through these slots, so replacing a slot's tensor
  // (as ParameterSwap does) changes what the layer computes with.
  Tensor& tensor_slot(const std::string& dotted_name);

 protected:
  // Direct access for subclasses that replace a registered tensor (e.g. re-initialisation).
  Tensor& parameter(const std::string& name);
  Tensor& buffer(const std::string& name);

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> m);
  void check_new_name(const std::string& name, const char* what) const;
  void collect(const std::string& prefix, bool recurse, bool params, NamedTensors& out) const;

  std::string type_name_;
  bool training_ = true;
  // Deques: the references register_* returns stay valid as more tensors are registered.
  std::deque<std::pair<std::string, Tensor>> params_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

// A module mapping one tensor to one tensor: most layers. Sequential chains these.
class UnaryModule : public Module {
 public:
  using Module::Module;
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }
};

// Swaps tensors into a module's parameter and buffer slots for its lifetime and puts the originals
// back when destroyed (also when an exception unwinds). The given tensors are used as they are, not
// copied, so gradients flow into them: e.g. fast weights from an inner step built with create_graph.
class ParameterSwap {
 public:
  ParameterSwap(Module& module, const std::map<std::string, Tensor>& replacements);
  ~ParameterSwap();
  ParameterSwap(const ParameterSwap&) = delete;
  ParameterSwap& operator=(const ParameterSwap&) = delete;

 private:
  std::vector<std::pair<Tensor*, Tensor>> saved_;  // slot, original tensor
};

// PyTorch's torch.func.functional_call: runs fn() with the named parameters/buffers of module
// replaced by the given tensors, then restores the module. Unknown names are an Error.
//   Tensor loss = functional_call(net, fast_weights, [&] { return mse_loss(net(x), y); });
template <class Fn>
auto functional_call(Module& module, const std::map<std::string, Tensor>& replacements, Fn&& fn) -> decltype(fn()) {
  ParameterSwap swap(module, replacements);
  return fn();
}

// The common case: one input through a unary module.
inline Tensor functional_call(UnaryModule& module, const std::map<std::string, Tensor>& replacements,
                              const Tensor& x) {
  ParameterSwap swap(module, replacements);
  return module.forward(x);
}

}  // namespace moelab::nn
