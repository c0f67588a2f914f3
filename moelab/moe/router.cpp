#include "moelab/moe/router.h"

#include <cmath>

#include "moelab/nn/init.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/linalg.h"
#include "moelab/ops/random.h"
#include "moelab/ops/reduce.h"
#include "moelab/ops/softmax.h"
#include "moelab/ops/sort.h"

namespace moelab::moe {

DType routing_dtype(DType dt) { return dt == kF64 ? kF64 : kF32; }

namespace {
const RouterOptions& checked(const std::string& name, const RouterOptions& o) {
  MOELAB_CHECK(o.d_model > 0, name, ": d_model must be positive, got ", o.d_model);
  MOELAB_CHECK(o.num_experts > 0, name, ": num_experts must be positive, got ", o.num_experts);
  MOELAB_CHECK(o.top_k >= 1 && o.top_k <= o.num_experts, name, ": top_k must be in [1, num_experts = ",
               o.num_experts, "], got ", o.top_k);
  MOELAB_CHECK(o.jitter_eps >= 0 && o.jitter_eps < 1, name, ": jitter_eps must be in [0, 1), got ", o.jitter_eps);
  MOELAB_CHECK(o.dtype == kF32 || o.dtype == kF64, name, ": router parameters must be f32 or f64");
  return o;
}
}  // namespace

Router::Router(std::string name, const RouterOptions& opts) : nn::Module(name), opts_(checked(name, opts)) {}

RoutingDecision Router::operator()(const Tensor& x) {
  MOELAB_CHECK(x.defined() && x.dim() == 2 && x.size(1) == opts_.d_model, type_name(), ": expected tokens [T, d_model = ",
               opts_.d_model, "], got ", x.defined() ? x.shape() : Shape{});
  MOELAB_CHECK(is_floating(x.dtype()), type_name(), ": tokens must be floating point, got ", x.dtype());
  return route(x);
}

Tensor Router::routing_input(const Tensor& x) {
  Tensor xr = x.to(routing_dtype(x.dtype()));
  if (!is_training() || opts_.jitter_eps == 0.0) return xr;
  Tensor noise = rand(xr.shape(), xr.dtype(), &gen_);
  // U(1 - eps, 1 + eps) = 1 - eps + 2 eps U(0, 1); the noise is a constant, gradients pass through x.
  return xr * (noise * (2.0 * opts_.jitter_eps) + (1.0 - opts_.jitter_eps));
}

void Router::sum_losses(RoutingDecision& d, const std::map<std::string, double>& coefs) {
  DType dt = d.logits.defined() ? d.logits.dtype() : kF32;
  Tensor total = zeros({}, dt);
  for (const auto& [name, coef] : coefs) {
    auto it = d.losses.find(name);
    if (coef != 0.0 && it != d.losses.end()) total = total + it->second * coef;
  }
  d.aux_loss = total;
}

void Router::add_standard_losses(RoutingDecision& d, bool always_report) const {
  if (always_report || opts_.load_balance_coef != 0.0)
    d.losses["load_balancing"] = switch_load_balancing_loss(d.probs, d.expert_ids, opts_.load_balance_norm);
  if (always_report || opts_.z_loss_coef != 0.0) d.losses["z_loss"] = router_z_loss(d.logits);
  sum_losses(d, {{"load_balancing", opts_.load_balance_coef}, {"z_loss", opts_.z_loss_coef}});
}

TopKRouter::TopKRouter(const RouterOptions& opts, TopKOrder order, bool renormalize, bool bias)
    : Router("TopKRouter", opts),
      order_(order),
      renormalize_(renormalize),
      weight_(register_parameter("weight", empty({opts.num_experts, opts.d_model}, opts.dtype))),
      bias_(bias ? register_parameter("bias", empty({opts.num_experts}, opts.dtype)) : register_buffer("bias", Tensor())) {
  // nn::Linear's initialisation: U(-1/sqrt(d), 1/sqrt(d)) for weight and bias.
  nn::init::kaiming_uniform_(weight_, std::sqrt(5.0));
  if (bias_.defined()) {
    double bound = 1.0 / std::sqrt(static_cast<double>(opts.d_model));
    nn::init::uniform_(bias_, -bound, bound);
  }
}

RoutingDecision TopKRouter::route(const Tensor& x) {
  Tensor xr = routing_input(x);
  DType dt = xr.dtype();
  RoutingDecision d;
  d.logits = linear(xr, weight_.to(dt), bias_.defined() ? bias_.to(dt) : Tensor());
  d.probs = softmax(d.logits, 1);
  const int64_t k = opts_.top_k;
  if (order_ == TopKOrder::kSoftmaxThenTopK) {
    auto [w, ids] = topk(d.probs, k, 1);
    d.expert_ids = ids;
    d.weights = renormalize_ ? div(w, sum(w, {1}, true)) : w;
  } else {
    auto [top_logits, ids] = topk(d.logits, k, 1);
    d.expert_ids = ids;
    d.weights = softmax(top_logits, 1);
  }
  d.kept = ones({x.size(0), k}, kBool);
  add_standard_losses(d);
  return d;
}

}  // namespace moelab::moe
