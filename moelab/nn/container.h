// Containers, as torch.nn: Sequential (a chain of unary layers), ModuleList (an indexed list of any
// modules) and ModuleDict (modules by name, in insertion order). Children are registered under
// their index ("0", "1", ...) or key, so state_dict names match PyTorch's ("0.weight", "2.bias").
//
//   auto net = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::UnaryModule>>{
//       std::make_shared<nn::Linear>(4, 8), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(8, 2)});
//   nn::Sequential seq{std::make_shared<nn::Linear>(4, 8), std::make_shared<nn::ReLU>()};
//   Tensor y = seq(x);
//   auto fc = seq.at<nn::Linear>(0);       // typed access; an Error if child 0 is not a Linear
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "moelab/nn/module.h"

namespace moelab::nn {

namespace detail {
// Index i (negative counts from the end) into a container of size n; an Error when out of range.
size_t container_index(int64_t i, size_t n, const char* container);
[[noreturn]] void wrong_child_type(const char* container, const std::string& key, const std::string& actual);

template <class T, class Ptr>
std::shared_ptr<T> cast_child(const Ptr& p, const char* container, const std::string& key) {
  auto t = std::dynamic_pointer_cast<T>(p);
  if (!t) wrong_child_type(container, key, p->type_name());
  return t;
}
}  // namespace detail

class Sequential : public UnaryModule {
 public:
  using Ptr = std::shared_ptr<UnaryModule>;
  Sequential() : UnaryModule("Sequential") {}
  Sequential(std::initializer_list<Ptr> modules);
  explicit Sequential(const std::vector<Ptr>& modules);

  // Appends a layer named by its index (or by the given name, as PyTorch's add_module).
  Sequential& push_back(Ptr module);
  Sequential& push_back(const std::string& name, Ptr module);

  // The layers in order, each fed the previous one's output.
  Tensor forward(const Tensor& x) override;

  size_t size() const { return layers_.size(); }
  bool empty() const { return layers_.empty(); }
  // i < 0 counts from the end.
  const Ptr& operator[](int64_t i) const { return layers_[detail::container_index(i, layers_.size(), "Sequential")]; }
  template <class T>
  std::shared_ptr<T> at(int64_t i) const {
    return detail::cast_child<T>((*this)[i], "Sequential", std::to_string(i));
  }
  std::vector<Ptr>::const_iterator begin() const { return layers_.begin(); }
  std::vector<Ptr>::const_iterator end() const { return layers_.end(); }

 private:
  std::vector<Ptr> layers_;
};

class ModuleList : public Module {
 public:
  using Ptr = std::shared_ptr<Module>;
  ModuleList() : Module("ModuleList") {}
  ModuleList(std::initializer_list<Ptr> modules);
  explicit ModuleList(const std::vector<Ptr>& modules);

  ModuleList& push_back(Ptr module);  // named by its index
  size_t size() const { return modules_.size(); }
  bool empty() const { return modules_.empty(); }
  const Ptr& operator[](int64_t i) const { return modules_[detail::container_index(i, modules_.size(), "ModuleList")]; }
  // Child i as a T; an Error naming the actual type when it is not one.
  template <class T>
  std::shared_ptr<T> at(int64_t i) const {
    return detail::cast_child<T>((*this)[i], "ModuleList", std::to_string(i));
  }
  std::vector<Ptr>::const_iterator begin() const { return modules_.begin(); }
  std::vector<Ptr>::const_iterator end() const { return modules_.end(); }

 private:
  std::vector<Ptr> modules_;
};

class ModuleDict : public Module {
 public:
  using Ptr = std::shared_ptr<Module>;
  using Item = std::pair<std::string, Ptr>;
  ModuleDict() : Module("ModuleDict") {}
  ModuleDict(std::initializer_list<Item> items);

  // Adds a module under a new key (no '.'); an existing key is an Error (PyTorch would replace it).
  ModuleDict& insert(const std::string& key, Ptr module);
  // An Error listing the keys when key is missing.
  const Ptr& operator[](const std::string& key) const;
  template <class T>
  std::shared_ptr<T> at(const std::string& key) const {
    return detail::cast_child<T>((*this)[key], "ModuleDict", key);
  }
  bool contains(const std::string& key) const;
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  std::vector<std::string> keys() const;
  std::vector<Ptr> values() const;
  // (key, module) in insertion order.
  std::vector<Item>::const_iterator begin() const { return items_.begin(); }
  std::vector<Item>::const_iterator end() const { return items_.end(); }

 private:
  std::vector<Item> items_;
};

}  // namespace moelab::nn
