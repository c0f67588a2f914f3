#include "moelab/moe/router_cosine.h"

#include <algorithm>
#include <cmath>

#include "moelab/autograd/grad_mode.h"
#include "moelab/nn/init.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/linalg.h"
#include "moelab/ops/reduce.h"
#include "moelab/ops/softmax.h"
#include "moelab/ops/sort.h"

namespace moelab::moe {

namespace {
const CosineRouterOptions& checked(const CosineRouterOptions& co) {
  MOELAB_CHECK(co.d_proj > 0, "CosineRouter: d_proj must be positive, got ", co.d_proj);
  MOELAB_CHECK(std::isfinite(co.min_temperature) && co.min_temperature > 0,
               "CosineRouter: min_temperature must be positive, got ", co.min_temperature);
  MOELAB_CHECK(std::isfinite(co.init_temperature) && co.init_temperature >= co.min_temperature,
               "CosineRouter: init_temperature must be >= min_temperature = ", co.min_temperature, ", got ",
               co.init_temperature);
  MOELAB_CHECK(co.eps > 0, "CosineRouter: eps must be positive, got ", co.eps);
  return co;
}

// v / max(||v||_2, eps) along dim 1 (torch.nn.functional.normalize).
Tensor l2_normalize(const Tensor& v, double eps) { return div(v, clamp(norm(v, 2, {1}, true), eps, std::nullopt)); }
}  // namespace

CosineRouter::CosineRouter(const RouterOptions& opts, const CosineRouterOptions& co)
    : Router("CosineRouter", opts),
      co_(checked(co)),
      proj_(register_parameter("proj_weight", empty({co.d_proj, opts.d_model}, opts.dtype))),
      emb_(register_parameter("expert_embeddings", empty({opts.num_experts, co.d_proj}, opts.dtype))),
      log_tau_(co.learnable_temperature
                   ? register_parameter("log_temperature", full({}, std::log(co.init_temperature), opts.dtype))
                   : register_buffer("log_temperature", full({}, std::log(co.init_temperature), opts.dtype))) {
  nn::init::kaiming_uniform_(proj_, std::sqrt(5.0));  // nn.Linear's default
  // X-MoE: orthogonal expert embeddings with gain 0.32 (only their directions matter to the cosine).
  nn::init::orthogonal_(emb_, 0.32);
}

double CosineRouter::temperature() const {
  return std::max(std::exp(log_tau_.to(kF64).item<double>()), co_.min_temperature);
}

RoutingDecision CosineRouter::route(const Tensor& x) {
  Tensor xr = routing_input(x);
  const DType dt = xr.dtype();
  RoutingDecision d;
  Tensor h = l2_normalize(linear(xr, proj_.to(dt)), co_.eps);
  Tensor e = l2_normalize(emb_.to(dt), co_.eps);
  Tensor tau = clamp(exp(log_tau_.to(dt)), co_.min_temperature, std::nullopt);
  d.logits = div(linear(h, e), tau);
  d.probs = softmax(d.logits, 1);
  auto [w, ids] = topk(d.probs, opts_.top_k, 1);
  d.expert_ids = ids;
  d.weights = co_.renormalize ? div(w, sum(w, {1}, true)) : w;
  d.kept = ones({xr.size(0), opts_.top_k}, kBool);
  add_standard_losses(d);
  return d;
}

}  // namespace moelab::moe
