#include "moelab/nn/container.h"

#include <algorithm>
#include <sstream>

namespace moelab::nn {

namespace detail {
size_t container_index(int64_t i, size_t n, const char* container) {
  const auto size = static_cast<int64_t>(n);
  MOELAB_CHECK(i >= -size && i < size, container, ": index ", i, " is out of range for ", size, " modules");
  return static_cast<size_t>(i < 0 ? i + size : i);
}

void wrong_child_type(const char* container, const std::string& key, const std::string& actual) {
  MOELAB_FAIL(container, ": module \"", key, "\" is a ", actual, ", not the type asked for");
}
}  // namespace detail

// ---- Sequential ----
Sequential::Sequential(std::initializer_list<Ptr> modules) : UnaryModule("Sequential") {
  for (const Ptr& m : modules) push_back(m);
}

Sequential::Sequential(const std::vector<Ptr>& modules) : UnaryModule("Sequential") {
  for (const Ptr& m : modules) push_back(m);
}

Sequential& Sequential::push_back(Ptr module) { return push_back(std::to_string(layers_.size()), std::move(module)); }

Sequential& Sequential::push_back(const std::string& name, Ptr module) {
  MOELAB_CHECK(module != nullptr, "Sequential: module ", layers_.size(), " is null");
  register_module(name, module);
  layers_.push_back(std::move(module));
  return *this;
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (const Ptr& m : layers_) y = m->forward(y);
  return y;
}

// ---- ModuleList ----
ModuleList::ModuleList(std::initializer_list<Ptr> modules) : Module("ModuleList") {
  for (const Ptr& m : modules) push_back(m);
}

ModuleList::ModuleList(const std::vector<Ptr>& modules) : Module("ModuleList") {
  for (const Ptr& m : modules) push_back(m);
}

ModuleList& ModuleList::push_back(Ptr module) {
  MOELAB_CHECK(module != nullptr, "ModuleList: module ", modules_.size(), " is null");
  register_module(std::to_string(modules_.size()), module);
  modules_.push_back(std::move(module));
  return *this;
}

// ---- ModuleDict ----
ModuleDict::ModuleDict(std::initializer_list<Item> items) : Module("ModuleDict") {
  for (const Item& kv : items) insert(kv.first, kv.second);
}

ModuleDict& ModuleDict::insert(const std::string& key, Ptr module) {
  MOELAB_CHECK(!contains(key), "ModuleDict: key \"", key, "\" is already present");
  MOELAB_CHECK(module != nullptr, "ModuleDict: module \"", key, "\" is null");
  register_module(key, module);
  items_.emplace_back(key, std::move(module));
  return *this;
}

bool ModuleDict::contains(const std::string& key) const {
  return std::any_of(items_.begin(), items_.end(), [&](const Item& kv) { return kv.first == key; });
}

const ModuleDict::Ptr& ModuleDict::operator[](const std::string& key) const {
  for (const Item& kv : items_)
    if (kv.first == key) return kv.second;
  std::ostringstream known;
  for (size_t i = 0; i < items_.size(); ++i) known << (i ? ", " : "") << '"' << items_[i].first << '"';
  MOELAB_FAIL("ModuleDict: no module under key \"", key, "\" (keys: ", known.str(), ")");
}

std::vector<std::string> ModuleDict::keys() const {
  std::vector<std::string> out;
  for (const Item& kv : items_) out.push_back(kv.first);
  return out;
}

std::vector<ModuleDict::Ptr> ModuleDict::values() const {
  std::vector<Ptr> out;
  for (const Item& kv : items_) out.push_back(kv.second);
  return out;
}

}  // namespace moelab::nn
