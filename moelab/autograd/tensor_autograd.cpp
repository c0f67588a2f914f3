// Tensor's autograd methods (declared in core/tensor.h).
#include <atomic>

#include "moelab/autograd/autograd_meta.h"
#include "moelab/autograd/engine.h"
#include "moelab/autograd/function.h"

namespace moelab {

using autograd::meta_of;

namespace {
int next_hook_handle() {
  static std::atomic<int> next{1};
  return next.fetch_add(1);
}
}  // namespace

bool Tensor::requires_grad() const {
  AutogradMeta* m = meta_of(*this);
  return m && (m->requires_grad || m->grad_fn);
}

Tensor& Tensor::requires_grad_(bool requires_grad) {
  MOELAB_CHECK(defined(), "requires_grad_: undefined tensor");
  AutogradMeta* m = meta_of(*this);
  MOELAB_CHECK(!(m && m->grad_fn), "requires_grad_: only leaf tensors can change requires_grad (this one was made by ",
               m && m->grad_fn ? m->grad_fn->name() : std::string(), "); use detach() first");
  MOELAB_CHECK(!requires_grad || is_floating(dtype()), "requires_grad_: only floating tensors can require grad, got ",
               dtype());
  autograd::ensure_meta(*this).requires_grad = requires_grad;
  return *this;
}

bool Tensor::is_leaf() const {
  AutogradMeta* m = meta_of(*this);
  return !m || !m->grad_fn;
}

const Tensor& Tensor::grad() const {
  static const Tensor undefined;
  AutogradMeta* m = meta_of(*this);
  return m ? m->grad : undefined;
}

Tensor& Tensor::mutable_grad() { return autograd::ensure_meta(*this).grad; }

autograd::Node* Tensor::grad_fn() const {
  AutogradMeta* m = meta_of(*this);
  return m ? m->grad_fn.get() : nullptr;
}

Tensor Tensor::detach() const {
  MOELAB_CHECK(defined(), "detach: undefined tensor");
  return Tensor(make_ref<TensorImpl>(storage(), shape(), strides(), offset(), dtype()));
}

void Tensor::retain_grad() {
  MOELAB_CHECK(requires_grad(), "retain_grad: the tensor does not require grad");
  AutogradMeta& m = autograd::ensure_meta(*this);
  if (!m.grad_fn || m.retains_grad) return;  // leaves keep their grad anyway
  m.retains_grad = true;
  // A pre-hook on grad_fn stores the gradient of this output into the meta. It refers to the
  // TensorImpl by raw pointer (a strong one would be a cycle); the meta's deleter removes the
  // hook when the tensor dies first.
  TensorImpl* impl = impl_.get();
  m.retain_grad_handle = next_hook_handle();
  m.grad_fn->add_pre_hook(m.output_nr, m.retain_grad_handle, [impl](const Tensor& g) {
    AutogradMeta* mm = impl->autograd_meta();
    if (mm) mm->grad = mm->grad.defined() ? autograd::detail::accumulate(mm->grad, g) : g.detach().clone();
    return Tensor();
  });
}

bool Tensor::retains_grad() const {
  AutogradMeta* m = meta_of(*this);
  return m && m->retains_grad;
}

void Tensor::backward(const Tensor& gradient, bool retain_graph, bool create_graph) const {
  autograd::backward({*this}, {gradient}, retain_graph, create_graph);
}

int Tensor::register_hook(std::function<Tensor(const Tensor&)> hook) {
  MOELAB_CHECK(requires_grad(), "register_hook: cannot register a hook on a tensor that does not require grad");
  AutogradMeta& m = autograd::ensure_meta(*this);
  int handle = next_hook_handle();
  if (m.grad_fn) m.grad_fn->add_pre_hook(m.output_nr, handle, std::move(hook));
  else m.hooks.push_back({handle, std::move(hook)});
  return handle;
}

void Tensor::remove_hook(int handle) {
  AutogradMeta* m = meta_of(*this);
  if (!m) return;
  if (m->grad_fn) m->grad_fn->remove_pre_hook(handle);
  std::erase_if(m->hooks, [&](const AutogradMeta::Hook& h) { return h.handle == handle; });
}

}  // namespace moelab
