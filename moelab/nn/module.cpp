#include "moelab/nn/module.h"

#include <algorithm>
#include <sstream>

#include "moelab/autograd/grad_mode.h"

namespace moelab::nn {

void Module::check_new_name(const std::string& name, const char* what) const {
  MOELAB_CHECK(!name.empty() && name.find('.') == std::string::npos, type_name_, ": ", what, " name \"", name,
               "\" must be non-empty and contain no '.'");
  auto taken = [&](const auto& list) {
    return std::any_of(list.begin(), list.end(), [&](const auto& kv) { return kv.first == name; });
  };
  MOELAB_CHECK(!taken(params_) && !taken(buffers_) && !taken(children_), type_name_, ": the name \"", name,
               "\" is already registered");
}

Tensor& Module::register_parameter(const std::string& name, Tensor t, bool requires_grad) {
  check_new_name(name, "parameter");
  MOELAB_CHECK(t.defined(), type_name_, ": parameter \"", name, "\" is an undefined tensor");
  MOELAB_CHECK(t.is_leaf(), type_name_, ": parameter \"", name, "\" must be a leaf tensor (use detach())");
  if (requires_grad) t.requires_grad_(true);
  params_.emplace_back(name, std::move(t));
  return params_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor t) {
  check_new_name(name, "buffer");
  buffers_.emplace_back(name, std::move(t));
  return buffers_.back().second;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> m) {
  check_new_name(name, "module");
  MOELAB_CHECK(m != nullptr, type_name_, ": module \"", name, "\" is null");
  children_.emplace_back(name, std::move(m));
}

Tensor& Module::parameter(const std::string& name) {
  for (auto& [n, t] : params_)
    if (n == name) return t;
  MOELAB_FAIL(type_name_, ": no parameter named \"", name, "\"");
}

Tensor& Module::buffer(const std::string& name) {
  for (auto& [n, t] : buffers_)
    if (n == name) return t;
  MOELAB_FAIL(type_name_, ": no buffer named \"", name, "\"");
}

void Module::collect(const std::string& prefix, bool recurse, bool params, NamedTensors& out) const {
  for (const auto& [n, t] : params ? params_ : buffers_)
    if (t.defined()) out.emplace_back(prefix + n, t);
  if (!recurse) return;
  for (const auto& [n, child] : children_) child->collect(prefix + n + ".", true, params, out);
}

NamedTensors Module::named_parameters(bool recurse) const {
  NamedTensors out;
  collect("", recurse, true, out);
  return out;
}

NamedTensors Module::named_buffers(bool recurse) const {
  NamedTensors out;
  collect("", recurse, false, out);
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& kv : named_parameters(recurse)) out.push_back(kv.second);
  return out;
}

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& kv : named_buffers(recurse)) out.push_back(kv.second);
  return out;
}

std::vector<std::shared_ptr<Module>> Module::children() const {
  std::vector<std::shared_ptr<Module>> out;
  for (const auto& kv : children_) out.push_back(kv.second);
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_children() const { return children_; }

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out{{"", this}};
  // Iterative walk: (prefix, module) pairs still to expand.
  std::vector<std::pair<std::string, Module*>> todo{{"", this}};
  while (!todo.empty()) {
    auto [prefix, m] = todo.back();
    todo.pop_back();
    for (auto it = m->children_.rbegin(); it != m->children_.rend(); ++it) {
      std::string name = prefix.empty() ? it->first : prefix + "." + it->first;
      todo.emplace_back(name, it->second.get());
    }
    if (m != this) out.emplace_back(prefix, m);
  }
  return out;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& kv : children_) kv.second->train(on);
}

void Module::zero_grad(bool set_to_none) {
  for (Tensor& p : parameters()) {
    if (!p.grad().defined()) continue;
    if (set_to_none) {
      p.mutable_grad() = Tensor();
    } else {
      autograd::NoGradGuard no_grad;
      p.mutable_grad().zero_();
    }
  }
}

void Module::requires_grad_(bool requires_grad) {
  for (Tensor& p : parameters()) p.requires_grad_(requires_grad);
}

void Module::apply(const std::function<void(Module&)>& fn) {
  for (auto& kv : children_) kv.second->apply(fn);
  fn(*this);
}

std::map<std::string, Tensor> Module::state_dict() const {
  std::map<std::string, Tensor> out;
  for (auto& [n, t] : named_parameters()) out[n] = t.detach();
  for (auto& [n, t] : named_buffers()) out[n] = t.detach();
  return out;
}

void Module::load_state_dict(const std::map<std::string, Tensor>& state, bool strict) {
  NamedTensors mine = named_parameters();
  NamedTensors bufs = named_buffers();
  mine.insert(mine.end(), bufs.begin(), bufs.end());
  std::vector<std::string> missing, unexpected;
  for (const auto& [n, t] : mine) {
    auto it = state.find(n);
    if (it == state.end()) {
      missing.push_back(n);
      continue;
    }
    MOELAB_CHECK(it->second.shape() == t.shape(), "load_state_dict: \"", n, "\" has shape ", it->second.shape(),
                 " in the state but ", t.shape(), " in the module");
  }
  for (const auto& [n, t] : state)
    if (std::none_of(mine.begin(), mine.end(), [&](const auto& kv) { return kv.first == n; })) unexpected.push_back(n);
  if (strict && (!missing.empty() || !unexpected.empty())) {
    std::ostringstream os;
    os << "load_state_dict: ";
    if (!missing.empty()) {
      os << "missing keys:";
      for (const auto& k : missing) os << " \"" << k << "\"";
    }
    if (!unexpected.empty()) {
      os << (missing.empty() ? "" : "; ") << "unexpected keys:";
      for (const auto& k : unexpected) os << " \"" << k << "\"";
    }
    MOELAB_FAIL(os.str());
  }
  // All checks passed: only now write, so a failed load changes nothing.
  autograd::NoGradGuard no_grad;
  for (auto& [n, t] : mine) {
    auto it = state.find(n);
    if (it != state.end()) Tensor(t).copy_(it->second);
  }
}

Tensor& Module::tensor_slot(const std::string& dotted_name) {
  Module* m = this;
  std::string rest = dotted_name;
  for (size_t dot; (dot = rest.find('.')) != std::string::npos; rest = rest.substr(dot + 1)) {
    std::string head = rest.substr(0, dot);
    auto it = std::find_if(m->children_.begin(), m->children_.end(), [&](const auto& kv) { return kv.first == head; });
    MOELAB_CHECK(it != m->children_.end(), type_name_, ": no parameter or buffer named \"", dotted_name,
                 "\" (no submodule \"", head, "\")");
    m = it->second.get();
  }
  for (auto* list : {&m->params_, &m->buffers_})
    for (auto& [n, t] : *list)
      if (n == rest) return t;
  MOELAB_FAIL(type_name_, ": no parameter or buffer named \"", dotted_name, "\"");
}

ParameterSwap::ParameterSwap(Module& module, const std::map<std::string, Tensor>& replacements) {
  // Find every slot first, so an unknown name changes nothing.
  std::vector<Tensor*> slots;
  for (const auto& kv : replacements) {
    MOELAB_CHECK(kv.second.defined(), "functional_call: the tensor for \"", kv.first, "\" is undefined");
    slots.push_back(&module.tensor_slot(kv.first));
  }
  size_t i = 0;
  for (const auto& kv : replacements) {
    saved_.emplace_back(slots[i], *slots[i]);
    *slots[i++] = kv.second;
  }
}

ParameterSwap::~ParameterSwap() {
  for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) *it->first = std::move(it->second);
}

}  // namespace moelab::nn
