#include "moelab/autograd/engine.h"

#include <cmath>
#include <atomic>

#include "moelab/autograd/autograd_meta.h"
#include "moelab/autograd/function.h"
#include "moelab/autograd/grad_mode.h"

namespace moelab::autograd {
namespace {

// The virtual node that feeds the root gradients into the graph, so several roots that depend on
// each other are still processed in dependency order.
class GraphRoot final : public Node {
 public:
  GraphRoot(std::vector<Edge> roots, std::vector<Tensor> grads) : grads_(std::move(grads)) {
    set_next_edges(std::move(roots));
  }
  std::vector<Tensor> apply(std::vector<Tensor>&&) override { return grads_; }
  std::string name() const override { return "GraphRoot"; }

 private:
  std::vector<Tensor> grads_;
};

bool has_non_finite(const Tensor& t) {
  if (!is_floating(t.dtype())) return false;
  for (double v : t.to_vector<double>())
    if (!std::isfinite(v)) return true;
  return false;
}

struct Capture {
  Node* node;
  uint32_t input_nr;
};

// Runs the graph. With captures (autograd::grad), the gradients reaching the captured edges are
// returned and leaves are not accumulated; nodes that cannot reach a capture are not run.
std::vector<Tensor> execute(Node& root, bool retain_graph, bool create_graph, const std::vector<Capture>* captures) {
  static std::atomic<uint64_t> next_epoch{1};
  const uint64_t epoch = next_epoch.fetch_add(1);
  GradModeGuard mode(create_graph);
  auto fresh = [epoch](Node* n) {
    Node::EngineState& st = n->engine_state();
    if (st.epoch == epoch) return false;
    st = Node::EngineState{};
    st.epoch = epoch;
    return true;
  };

  // 1. Post-order over the graph (children before parents), iteratively.
  std::vector<Node*> post;
  fresh(&root);
  std::vector<std::pair<Node*, size_t>> stack{{&root, 0}};
  while (!stack.empty()) {
    auto& [n, i] = stack.back();
    if (i < n->next_edges().size()) {
      Node* child = n->next_edges()[i++].node.get();
      if (child && fresh(child)) stack.emplace_back(child, 0);
    } else {
      post.push_back(n);
      stack.pop_back();
    }
  }
  if (captures)
    for (const Capture& c : *captures)
      if (c.node && c.node->engine_state().epoch == epoch) c.node->engine_state().is_target = true;

  // 2. Which nodes must run: all of them for backward; for grad, those that reach a capture.
  // 3. Dependency counts along needed edges.
  for (Node* n : post) {
    bool need = !captures || n->engine_state().is_target;
    for (const Edge& e : n->next_edges())
      if (e.valid() && e.node->engine_state().needed) need = true;
    n->engine_state().needed = need;
  }
  for (Node* n : post)
    if (n->engine_state().needed)
      for (const Edge& e : n->next_edges())
        if (e.valid() && e.node->engine_state().needed) ++e.node->engine_state().deps;

  std::vector<Tensor> captured(captures ? captures->size() : 0);
  std::vector<Node*> ready{&root};
  while (!ready.empty()) {
    Node* n = ready.back();
    ready.pop_back();
    Node::EngineState& st = n->engine_state();
    std::vector<Tensor> inputs = std::move(st.buffer);
    st.buffer = {};
    inputs.resize(n->output_geometry().size());
    inputs = n->run_pre_hooks(std::move(inputs));

    const bool acc = n->is_accumulate_grad();
    if (st.is_target) {
      for (size_t c = 0; c < captures->size(); ++c) {
        if ((*captures)[c].node != n) continue;
        Tensor g = inputs[(*captures)[c].input_nr];
        captured[c] = acc && g.defined() ? static_cast<AccumulateGrad*>(n)->run_leaf_hooks(g) : g;
      }
    }
    if (captures && acc) continue;  // grad() never accumulates into .grad

    bool any_defined = n == &root;
    for (const Tensor& g : inputs) any_defined |= g.defined();
    std::vector<Tensor> outputs;
    if (any_defined) {
      if (n->materializes_zero_grads())
        for (size_t i = 0; i < inputs.size(); ++i)
          if (!inputs[i].defined()) inputs[i] = detail::zeros_of(n->output_geometry()[i]);
      outputs = n->apply(std::move(inputs));
      if (!retain_graph) n->release_variables();
    }
    outputs.resize(n->next_edges().size());

    for (size_t i = 0; i < n->next_edges().size(); ++i) {
      const Edge& e = n->next_edges()[i];
      if (!e.valid() || !e.node->engine_state().needed) continue;
      Node::EngineState& next = e.node->engine_state();
      Tensor& g = outputs[i];
      if (g.defined()) {
        const TensorGeometry& want = e.node->output_geometry()[e.input_nr];
        MOELAB_CHECK(g.shape() == want.shape, "autograd: ", n->name(), " returned a gradient of shape ", g.shape(),
                     " for its input ", i, ", which has shape ", want.shape);
        if (AnomalyMode::is_enabled())
          MOELAB_CHECK(!has_non_finite(g), "autograd anomaly: the backward of ", n->name(),
                       " produced NaN or Inf in the gradient of its input ", i);
        if (next.buffer.size() <= e.input_nr) next.buffer.resize(e.input_nr + 1);
        Tensor& slot = next.buffer[e.input_nr];
        slot = slot.defined() ? detail::accumulate(slot, g) : g;
      }
      if (--next.deps == 0) ready.push_back(e.node.get());
    }
  }
  return captured;
}

std::vector<Tensor> root_grads(const std::vector<Tensor>& roots, const std::vector<Tensor>& given, const char* op) {
  MOELAB_CHECK(given.empty() || given.size() == roots.size(), op, ": ", roots.size(), " outputs but ",
               given.size(), " gradients");
  std::vector<Tensor> grads;
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& r = roots[i];
    MOELAB_CHECK(r.defined() && r.requires_grad(), op, ": output ", i,
                 " does not require grad and has no grad_fn (was it computed under NoGradGuard, or from "
                 "tensors that do not require grad?)");
    Tensor g = i < given.size() ? given[i] : Tensor();
    if (!g.defined()) {
      MOELAB_CHECK(r.numel() == 1, op, ": a gradient can be created implicitly only for a scalar output; output ",
                   i, " has shape ", r.shape(), ", so pass its gradient");
      g = detail::zeros_of(TensorGeometry::of(r));
      g.fill_(1);
    }
    MOELAB_CHECK(g.shape() == r.shape(), op, ": the gradient of output ", i, " has shape ", g.shape(),
                 ", the output ", r.shape());
    grads.push_back(g);
  }
  return grads;
}

std::vector<Edge> root_edges(const std::vector<Tensor>& roots) {
  std::vector<Edge> edges;
  for (const Tensor& r : roots) edges.push_back(edge_of(r));
  return edges;
}

}  // namespace

void backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_roots, bool retain_graph,
              bool create_graph) {
  std::vector<Tensor> grads = root_grads(roots, grad_roots, "backward");
  Ref<GraphRoot> root(new GraphRoot(root_edges(roots), std::move(grads)));
  execute(*root, retain_graph, create_graph, nullptr);
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, std::optional<bool> retain_graph, bool create_graph,
                         bool allow_unused) {
  std::vector<Tensor> grads = root_grads(outputs, grad_outputs, "grad");
  std::vector<Capture> captures;
  std::vector<Edge> keep;  // holds the input edges (leaf accumulators) alive during the run
  for (size_t i = 0; i < inputs.size(); ++i) {
    MOELAB_CHECK(inputs[i].defined() && inputs[i].requires_grad(), "grad: input ", i, " does not require grad");
    Edge e = edge_of(inputs[i]);
    captures.push_back({e.node.get(), e.input_nr});
    keep.push_back(std::move(e));
  }
  Ref<GraphRoot> root(new GraphRoot(root_edges(outputs), std::move(grads)));
  std::vector<Tensor> result = execute(*root, retain_graph.value_or(create_graph), create_graph, &captures);
  for (size_t i = 0; i < result.size(); ++i)
    MOELAB_CHECK(result[i].defined() || allow_unused, "grad: input ", i,
                 " was not used to compute the outputs; pass allow_unused=true to get an undefined gradient");
  return result;
}

}  // namespace moelab::autograd
