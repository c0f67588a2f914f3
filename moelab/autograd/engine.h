// The backward engine: runs the graph from the roots in dependency order, iteratively (no
// recursion, so a chain of 100,000 ops is fine), accumulating gradients of nodes used more than once.
#pragma once
#include <vector>

#include "moelab/autograd/node.h"

namespace moelab::autograd {

// Accumulates d(roots)/d(leaves) into the leaves' .grad(). grad_roots[i] may be undefined for a
// scalar root (then 1). The graph's saved tensors are freed unless retain_graph; with
// create_graph the backward pass is itself recorded (higher-order gradients).
void backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_roots = {},
              bool retain_graph = false, bool create_graph = false);

// Returns d(outputs)/d(inputs) without touching any .grad(). inputs may be any tensors that
// require grad, leaves or not. An input the outputs do not depend on gets an undefined tensor
// when allow_unused, else an Error. retain_graph defaults to create_graph.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, std::optional<bool> retain_graph = std::nullopt,
                         bool create_graph = false, bool allow_unused = false);

namespace detail {
// Provided by the ops layer (ops/autograd_support.cpp): the differentiable sum used to accumulate
// gradients, and zeros of a given geometry for unused outputs.
Tensor accumulate(const Tensor& a, const Tensor& b);
Tensor zeros_of(const TensorGeometry& g);
}  // namespace detail

}  // namespace moelab::autograd
