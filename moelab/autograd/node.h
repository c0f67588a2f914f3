// The autograd graph: a Node is the backward of one recorded op. Its inputs are the gradients of
// the op's outputs; its outputs, one per next edge, are the gradients of the op's inputs. An Edge
// points at the node that made an input (or the leaf's AccumulateGrad) and which of its outputs.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "moelab/core/tensor.h"

namespace moelab::autograd {

class Node;

struct Edge {
  Ref<Node> node;
  uint32_t input_nr = 0;  // which input of `node` this gradient feeds
  bool valid() const { return static_cast<bool>(node); }
};

// Shape, dtype and device of a tensor: what a gradient for it must look like.
struct TensorGeometry {
  Shape shape;
  DType dtype = kF32;
  Device device = kCPU;
  static TensorGeometry of(const Tensor& t) { return {t.shape(), t.dtype(), t.device()}; }
};

using TensorHook = std::function<Tensor(const Tensor&)>;

class Node : public RefCounted {
 public:
  Node();
  virtual ~Node() = default;
  // Called by Ref when the last reference goes: destroys iteratively, so that freeing a graph of
  // 100,000 chained nodes does not recurse 100,000 deep.
  static void destroy_ref(Node* n);
  // grads[i] is the gradient of output i (zeros are materialised for unused outputs); returns one
  // gradient per next edge (undefined where the edge is invalid or no gradient flows).
  virtual std::vector<Tensor> apply(std::vector<Tensor>&& grads) = 0;
  virtual std::string name() const = 0;
  // Frees saved tensors after a backward without retain_graph.
  virtual void release_variables() {}

  const std::vector<Edge>& next_edges() const { return next_edges_; }
  void set_next_edges(std::vector<Edge> e) { next_edges_ = std::move(e); }
  bool needs_input_grad(size_t i) const { return i < next_edges_.size() && next_edges_[i].valid(); }
  uint64_t sequence_nr() const { return sequence_nr_; }
  // Geometry of the forward outputs (the gradients this node receives).
  std::vector<TensorGeometry>& output_geometry() { return output_geometry_; }
  // Hooks on the gradient of output `nr`, run before apply (tensor hooks of non-leaves, retain_grad).
  void add_pre_hook(uint32_t output_nr, int handle, TensorHook hook);
  void remove_pre_hook(int handle);
  std::vector<Tensor> run_pre_hooks(std::vector<Tensor>&& grads);
  // Whether the engine fills zeros for outputs that received no gradient (FunctionNode does).
  virtual bool materializes_zero_grads() const { return false; }
  virtual bool is_accumulate_grad() const { return false; }

  // Per-run bookkeeping of the engine, stored on the node itself so that a backward pass needs no
  // hash maps. `epoch` tells which run the rest belongs to. (A graph is not backpropagated from
  // two threads at once.)
  struct EngineState {
    uint64_t epoch = 0;
    int deps = 0;
    bool needed = false;
    bool is_target = false;
    std::vector<Tensor> buffer;
  };
  EngineState& engine_state() { return engine_state_; }

 private:
  EngineState engine_state_;
  std::vector<Edge> next_edges_;
  std::vector<TensorGeometry> output_geometry_;
  struct PreHook {
    uint32_t output_nr;
    int handle;
    TensorHook fn;
  };
  std::vector<PreHook> pre_hooks_;
  uint64_t sequence_nr_;
};

// A tensor saved for backward. Remembers the storage version at save time: if the tensor is then
// modified in place, unpacking it throws an Error naming the op. An output of the op that saves it
// is stored without its grad_fn (which would be a reference cycle) and re-attached on unpack.
class SavedVariable {
 public:
  SavedVariable() = default;
  SavedVariable(const Tensor& t, bool is_output, uint32_t output_nr = 0);
  // `owner` is the node that saved it (for the error message and to re-attach outputs).
  Tensor unpack(Node* owner) const;
  bool defined() const { return data_.defined(); }
  void reset() { data_ = Tensor(); }

 private:
  Tensor data_;
  uint32_t version_ = 0;
  uint32_t output_nr_ = 0;
  bool is_output_ = false;
};

// The backward of an op written as a closure over saved variables: the usual way ops record
// themselves (see record_op in function.h).
class FunctionNode final : public Node {
 public:
  struct Context;
  using BackwardFn = std::function<std::vector<Tensor>(Context&, const std::vector<Tensor>& grads)>;

  // What a backward function sees: the saved tensors and which inputs need a gradient.
  struct Context {
    FunctionNode* node;
    Tensor saved(size_t i) const;
    bool needs_input_grad(size_t i) const { return node->needs_input_grad(i); }
  };

  FunctionNode(const char* name, std::vector<SavedVariable> saved, BackwardFn fn)
      : name_(name), saved_(std::move(saved)), fn_(std::move(fn)) {}
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override;
  std::string name() const override { return name_; }
  void release_variables() override;
  bool materializes_zero_grads() const override { return true; }
  std::vector<SavedVariable>& saved() { return saved_; }

 private:
  const char* name_;
  std::vector<SavedVariable> saved_;
  BackwardFn fn_;
  bool released_ = false;
};

// Accumulates the incoming gradient into a leaf's .grad(), after the leaf's hooks.
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(Tensor leaf);
  ~AccumulateGrad() override;
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override;
  std::string name() const override { return "AccumulateGrad"; }
  bool is_accumulate_grad() const override { return true; }
  const Tensor& leaf() const { return leaf_; }
  // Runs the leaf's tensor hooks on a gradient (also used by autograd::grad, which does not
  // accumulate).
  Tensor run_leaf_hooks(Tensor grad) const;

 private:
  Tensor leaf_;
};

}  // namespace moelab::autograd
