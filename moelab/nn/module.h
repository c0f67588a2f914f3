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

}  // namespace moelab::nn
