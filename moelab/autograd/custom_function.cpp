#include "moelab/autograd/custom_function.h"

#include <memory>
#include <mutex>
#include <unordered_set>

#include "moelab/autograd/function.h"

namespace moelab::autograd {
namespace {

// FunctionNode keeps its name as a const char* for the life of the program; user names are
// interned here (one copy per distinct name).
const char* intern(const std::string& name) {
  static std::mutex mu;
  static std::unordered_set<std::string> names;
  std::lock_guard<std::mutex> lock(mu);
  return names.insert(name).first->c_str();
}

}  // namespace

void FunctionCtx::save_for_backward(std::vector<Tensor> tensors) {
  MOELAB_CHECK(in_forward_, name_, ": save_for_backward may only be called in the forward function");
  to_save_ = std::move(tensors);
}

std::vector<Tensor> FunctionCtx::saved_tensors() const {
  MOELAB_CHECK(node_ctx_ != nullptr, name_, ": saved_tensors may only be called in the backward function");
  std::vector<Tensor> r;
  r.reserve(num_saved_);
  for (size_t i = 0; i < num_saved_; ++i) r.push_back(node_ctx_->saved(i));
  return r;
}

bool FunctionCtx::needs_input_grad(size_t i) const {
  MOELAB_CHECK(node_ctx_ != nullptr, name_, ": needs_input_grad may only be called in the backward function");
  return node_ctx_->needs_input_grad(i);
}

std::vector<Tensor> apply_function(const std::string& name, const std::vector<Tensor>& inputs,
                                   const CustomForwardFn& forward_fn, CustomBackwardFn backward_fn) {
  MOELAB_CHECK(forward_fn && backward_fn, name, ": apply_function needs both a forward and a backward function");
  auto ctx = std::make_shared<FunctionCtx>();
  ctx->name_ = name;
  std::vector<Tensor> outputs;
  {
    NoGradGuard no_grad;
    ctx->in_forward_ = true;
    outputs = forward_fn(*ctx, inputs);
    ctx->in_forward_ = false;
  }
  // An output that is an input (or a tensor sharing its autograd identity) would have the input's
  // history overwritten: hand back a fresh alias of the same storage instead.
  for (Tensor& out : outputs) {
    if (!out.defined()) continue;
    for (const Tensor& in : inputs)
      if (in.defined() && in.impl() == out.impl()) {
        out = out.detach();
        break;
      }
  }
  if (!needs_grad(inputs)) {
    ctx->to_save_.clear();
    return outputs;
  }
  // Saved outputs are stored without their grad_fn (a cycle otherwise) and re-attached on unpack.
  std::vector<SavedVariable> saved;
  saved.reserve(ctx->to_save_.size());
  for (const Tensor& t : ctx->to_save_) {
    MOELAB_CHECK(t.defined(), name, ": save_for_backward got an undefined tensor");
    bool is_output = false;
    uint32_t nr = 0;
    for (size_t k = 0; k < outputs.size(); ++k)
      if (outputs[k].defined() && outputs[k].impl() == t.impl()) {
        is_output = true;
        nr = static_cast<uint32_t>(k);
        break;
      }
    saved.emplace_back(t, is_output, nr);
  }
  ctx->num_saved_ = saved.size();
  ctx->to_save_.clear();
  std::vector<Tensor*> outs;
  for (Tensor& out : outputs) {
    MOELAB_CHECK(out.defined(), name, ": the forward function returned an undefined tensor");
    outs.push_back(&out);
  }
  const size_t n_in = inputs.size();
  record_op(intern(name), inputs, outs, std::move(saved),
            [ctx, n_in, bwd = std::move(backward_fn)](FunctionNode::Context& c, const std::vector<Tensor>& g) {
              ctx->node_ctx_ = &c;
              std::vector<Tensor> r;
              try {
                r = bwd(*ctx, g);
              } catch (...) {
                ctx->node_ctx_ = nullptr;
                throw;
              }
              ctx->node_ctx_ = nullptr;
              MOELAB_CHECK(r.size() == n_in, ctx->name(), ": the backward function returned ", r.size(),
                           " gradients for ", n_in, " inputs");
              for (size_t i = 0; i < n_in; ++i)
                if (!c.needs_input_grad(i)) r[i] = Tensor();  // computed but not wanted
              return r;
            });
  return outputs;
}

}  // namespace moelab::autograd
