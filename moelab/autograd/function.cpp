#include "moelab/autograd/function.h"

#include "moelab/autograd/autograd_meta.h"

namespace moelab::autograd {

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Edge edge_of(const Tensor& t) {
  AutogradMeta* m = meta_of(t);
  if (!m) return {};
  if (m->grad_fn) return {m->grad_fn, m->output_nr};
  if (!m->requires_grad) return {};
  if (m->grad_accumulator) return {Ref<Node>(m->grad_accumulator), 0};
  Ref<AccumulateGrad> acc(new AccumulateGrad(t));
  m->grad_accumulator = acc.get();
  return {Ref<Node>(acc.get()), 0};
}

namespace {
template <class Inputs, class Outputs>
void record_impl(const char* name, const Inputs& inputs, const Outputs& outputs, std::vector<SavedVariable> saved,
                 FunctionNode::BackwardFn backward) {
  Ref<FunctionNode> node(new FunctionNode(name, std::move(saved), std::move(backward)));
  std::vector<Edge> edges;
  edges.reserve(inputs.size());
  for (const auto& in : inputs) {
    const Tensor& t = [&]() -> const Tensor& {
      if constexpr (std::is_pointer_v<std::decay_t<decltype(in)>>) return *in;
      else return in;
    }();
    edges.push_back(t.defined() ? edge_of(t) : Edge{});
  }
  node->set_next_edges(std::move(edges));
  uint32_t nr = 0;
  for (Tensor* out : outputs) {
    node->output_geometry().push_back(TensorGeometry::of(*out));
    if (is_floating(out->dtype())) {
      AutogradMeta& m = ensure_meta(*out);
      m.grad_fn = Ref<Node>(node.get());
      m.output_nr = nr;
    }
    ++nr;
  }
}
}  // namespace

void record_op(const char* name, std::initializer_list<const Tensor*> inputs, std::initializer_list<Tensor*> outputs,
               std::vector<SavedVariable> saved, FunctionNode::BackwardFn backward) {
  record_impl(name, inputs, outputs, std::move(saved), std::move(backward));
}

void record_op(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor*>& outputs,
               std::vector<SavedVariable> saved, FunctionNode::BackwardFn backward) {
  record_impl(name, inputs, outputs, std::move(saved), std::move(backward));
}

void check_inplace(const Tensor& self, const char* op, bool recording) {
  if (!GradMode::is_enabled()) return;
  AutogradMeta* m = meta_of(self);
  MOELAB_CHECK(!(m && m->requires_grad && !m->grad_fn), op,
               ": a leaf tensor that requires grad cannot be modified in place (wrap the update in "
               "NoGradGuard, as optimizers do)");
  MOELAB_CHECK(!(recording && self.impl()->is_view()), op,
               ": in-place ops on views are not differentiable yet; use the out-of-place op (shape ",
               self.shape(), ")");
}

void rebase_history(const Tensor& self, const Tensor& result) {
  AutogradMeta* r = meta_of(result);
  if (!r || !r->grad_fn) return;
  AutogradMeta& m = ensure_meta(self);
  m.grad_fn = r->grad_fn;
  m.output_nr = r->output_nr;
}

}  // namespace moelab::autograd
