#include "moelab/moe/moe_layer.h"

#include "moelab/moe/dispatch.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"

namespace moelab::moe {
namespace {
std::shared_ptr<Router> checked(std::shared_ptr<Router> r, const MoELayerOptions& o) {
  MOELAB_CHECK(r != nullptr, "MoELayer: the router is null");
  MOELAB_CHECK(o.d_ff > 0, "MoELayer: d_ff must be positive, got ", o.d_ff);
  MOELAB_CHECK(o.shared_d_ff >= 0, "MoELayer: shared_d_ff must be >= 0, got ", o.shared_d_ff);
  MOELAB_CHECK(!o.shared_expert_gate || o.shared_d_ff > 0,
               "MoELayer: shared_expert_gate needs shared experts (shared_d_ff > 0)");
  MOELAB_CHECK(o.dtype == kF32 || o.dtype == kF64, "MoELayer: dtype must be f32 or f64, got ", o.dtype);
  parse_expert_activation(o.activation, "MoELayer");
  // Checks the capacity options now rather than at the first forward.
  expert_capacity(o.capacity, 1, r->top_k(), r->num_experts());
  return r;
}
}  // namespace

MoELayer::MoELayer(std::shared_ptr<Router> router, const MoELayerOptions& options)
    : nn::UnaryModule("MoELayer"), opts_(options), router_(checked(std::move(router), options)) {
  register_module("router", router_);
  experts_ = register_module(
      "experts", std::make_shared<ExpertFFN>(router_->num_experts(), d_model(), opts_.d_ff, opts_.activation, opts_.dtype));
  if (opts_.shared_d_ff > 0) {
    shared_ = register_module("shared_experts",
                              std::make_shared<ExpertFFN>(1, d_model(), opts_.shared_d_ff, opts_.activation, opts_.dtype));
    if (opts_.shared_expert_gate)
      shared_gate_ = register_module("shared_expert_gate", std::make_shared<nn::Linear>(d_model(), 1, false, opts_.dtype));
  }
}

Tensor MoELayer::aux_loss() const {
  return last_.aux_loss.defined() ? last_.aux_loss : zeros({}, routing_dtype(opts_.dtype));
}

Tensor MoELayer::forward(const Tensor& x) {
  const int64_t d = d_model(), E = num_experts();
  MOELAB_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) == d, "MoELayer: input must be [..., d_model = ", d,
               "], got ", x.defined() ? x.shape() : Shape{});
  MOELAB_CHECK(x.dtype() == opts_.dtype, "MoELayer: input of dtype ", x.dtype(), " for a layer of dtype ", opts_.dtype);
  const Shape shape = x.shape();
  const int64_t T = x.numel() / d;
  const Tensor tokens = x.reshape({T, d});  // a view when x is contiguous

  RoutingDecision decision = (*router_)(tokens);
  apply_capacity(decision, E, opts_.capacity);
  // Only decision.kept says which slots run: capacity (or a variable-k router) drops the others.
  const DispatchPlan plan = plan_dispatch(decision.expert_ids, E, decision.kept);
  const Tensor ys = experts_->forward(dispatch(tokens, plan), plan.offsets_cpu);
  Tensor y = combine(ys, decision.weights, plan, T);
  if (shared_) {
    Tensor s = shared_->forward(tokens, {0, T});
    if (shared_gate_) s = sigmoid(shared_gate_->forward(tokens)) * s;
    y = y + s;
  }
  last_ = std::move(decision);
  return y.reshape(shape);
}

}  // namespace moelab::moe
