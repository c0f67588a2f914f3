#include "moelab/autograd/node.h"

#include <atomic>

#include "moelab/autograd/autograd_meta.h"
#include "moelab/autograd/engine.h"
#include "moelab/autograd/grad_mode.h"

namespace moelab {

void AutogradMetaDeleter::operator()(AutogradMeta* m) const {
  if (m->retains_grad && m->grad_fn) m->grad_fn->remove_pre_hook(m->retain_grad_handle);
  delete m;
}

namespace autograd {

namespace {
std::atomic<uint64_t> g_next_sequence_nr{0};
}

AutogradMeta& ensure_meta(const Tensor& t) {
  if (!t.impl()->autograd_meta()) t.impl()->set_autograd_meta(AutogradMetaPtr(new AutogradMeta()));
  return *t.impl()->autograd_meta();
}

namespace {
thread_local std::vector<Node*>* t_pending_deletes = nullptr;
}

void Node::destroy_ref(Node* n) {
  if (t_pending_deletes) {  // inside an outer destroy: let its loop do it
    t_pending_deletes->push_back(n);
    return;
  }
  std::vector<Node*> pending{n};
  t_pending_deletes = &pending;
  while (!pending.empty()) {
    Node* x = pending.back();
    pending.pop_back();
    delete x;  // may push the nodes it held
  }
  t_pending_deletes = nullptr;
}

Node::Node() : sequence_nr_(g_next_sequence_nr.fetch_add(1, std::memory_order_relaxed)) {}

void Node::add_pre_hook(uint32_t output_nr, int handle, TensorHook hook) {
  pre_hooks_.push_back({output_nr, handle, std::move(hook)});
}

void Node::remove_pre_hook(int handle) {
  std::erase_if(pre_hooks_, [&](const PreHook& h) { return h.handle == handle; });
}

std::vector<Tensor> Node::run_pre_hooks(std::vector<Tensor>&& grads) {
  for (const PreHook& h : pre_hooks_) {
    Tensor& g = grads[h.output_nr];
    if (!g.defined()) continue;
    Tensor r = h.fn(g);
    if (r.defined()) g = r;
  }
  return std::move(grads);
}

SavedVariable::SavedVariable(const Tensor& t, bool is_output, uint32_t output_nr)
    : output_nr_(output_nr), is_output_(is_output) {
  if (!t.defined()) return;
  version_ = t.version();
  // An output is kept without its grad_fn, which is the node saving it: a cycle otherwise.
  data_ = is_output ? t.detach() : t;
}

Tensor SavedVariable::unpack(Node* owner) const {
  if (!data_.defined()) return data_;
  MOELAB_CHECK(data_.version() == version_,
               "autograd: a tensor saved by ", owner ? owner->name() : std::string("an op"),
               " for backward was modified by an in-place operation (version ", version_, " when saved, ",
               data_.version(), " now); use an out-of-place op or clone() before modifying it");
  if (!is_output_ || !owner || !GradMode::is_enabled() || !is_floating(data_.dtype())) return data_;
  // Under create_graph, re-attach the owner as grad_fn so that double backward through this saved
  // output works.
  Tensor t = data_.detach();
  AutogradMeta& m = ensure_meta(t);
  m.grad_fn = Ref<Node>(owner);
  m.output_nr = output_nr_;
  return t;
}

Tensor FunctionNode::Context::saved(size_t i) const {
  MOELAB_CHECK(i < node->saved_.size(), node->name(), ": saved tensor ", i, " does not exist");
  return node->saved_[i].unpack(node);
}

std::vector<Tensor> FunctionNode::apply(std::vector<Tensor>&& grads) {
  MOELAB_CHECK(!released_, "autograd: trying to backward through ", name_,
               " a second time, but its saved tensors were freed after the first backward; pass "
               "retain_graph=true to the first backward to keep them");
  Context ctx{this};
  return fn_(ctx, grads);
}

void FunctionNode::release_variables() {
  saved_.clear();
  fn_ = nullptr;  // the closure may hold tensors too
  released_ = true;
}

AccumulateGrad::AccumulateGrad(Tensor leaf) : leaf_(std::move(leaf)) {
  output_geometry().push_back(TensorGeometry::of(leaf_));
}

AccumulateGrad::~AccumulateGrad() {
  AutogradMeta* m = meta_of(leaf_);
  if (m && m->grad_accumulator == this) m->grad_accumulator = nullptr;
}

std::vector<Tensor> AccumulateGrad::apply(std::vector<Tensor>&& grads) {
  Tensor g = run_leaf_hooks(std::move(grads[0]));
  if (!g.defined()) return {};
  AutogradMeta& m = ensure_meta(leaf_);
  if (m.grad.defined()) {
    m.grad = detail::accumulate(m.grad, g);
  } else if (GradMode::is_enabled()) {
    m.grad = g;  // create_graph: the gradient keeps its history
  } else {
    // Take the buffer when nothing else can see it; otherwise copy, so that .grad() never
    // aliases another tensor.
    bool owned = g.impl()->use_count() == 1 && g.storage()->use_count() == 1 && g.is_contiguous();
    m.grad = owned ? g : g.detach().clone();
  }
  return {};
}

Tensor AccumulateGrad::run_leaf_hooks(Tensor grad) const {
  AutogradMeta* m = meta_of(leaf_);
  if (!m) return grad;
  for (const auto& h : m->hooks) {
    Tensor r = h.fn(grad);
    if (r.defined()) grad = r;
  }
  return grad;
}

}  // namespace autograd
}  // namespace moelab
