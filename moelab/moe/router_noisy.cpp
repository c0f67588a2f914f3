#include "moelab/moe/router_noisy.h"

#include <cmath>

#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/indexing.h"
#include "moelab/ops/linalg.h"
#include "moelab/ops/random.h"
#include "moelab/ops/reduce.h"
#include "moelab/ops/softmax.h"
#include "moelab/ops/sort.h"

namespace moelab::moe {

namespace {
// Standard normal CDF Phi(z) = (1 + erf(z / sqrt(2))) / 2, differentiable.
Tensor normal_cdf(const Tensor& z) { return (erf(z * M_SQRT1_2) + 1.0) * 0.5; }
}  // namespace

NoisyTopKRouter::NoisyTopKRouter(const RouterOptions& opts, const NoisyTopKOptions& noisy_opts)
    : Router("NoisyTopKRouter", opts),
      nopts_(noisy_opts),
      w_gate_(register_parameter("w_gate", zeros({opts.d_model, opts.num_experts}, opts.dtype))),
      w_noise_(noisy_opts.noisy ? register_parameter("w_noise", zeros({opts.d_model, opts.num_experts}, opts.dtype))
                                : register_buffer("w_noise", Tensor())) {
  MOELAB_CHECK(std::isfinite(nopts_.loss_coef) && nopts_.loss_coef >= 0, "NoisyTopKRouter: loss_coef must be >= 0, got ",
               nopts_.loss_coef);
  MOELAB_CHECK(std::isfinite(nopts_.noise_epsilon) && nopts_.noise_epsilon > 0,
               "NoisyTopKRouter: noise_epsilon must be > 0, got ", nopts_.noise_epsilon);
}

RoutingDecision NoisyTopKRouter::route(const Tensor& x) {
  if (!is_training() || !nopts_.noisy) return route_with_noise(x, Tensor());
  Tensor eps = randn({x.size(0), opts_.num_experts}, routing_dtype(x.dtype()), &generator());
  return route_with_noise(x, eps);
}

RoutingDecision NoisyTopKRouter::route_with_noise(const Tensor& x, const Tensor& eps) {
  constexpr const char* fn = "NoisyTopKRouter::route_with_noise";
  const int64_t E = opts_.num_experts, k = opts_.top_k;
  MOELAB_CHECK(x.defined() && x.dim() == 2 && x.size(1) == opts_.d_model, fn, ": expected tokens x [T, d_model = ",
               opts_.d_model, "], got ", x.defined() ? x.shape() : Shape{});
  MOELAB_CHECK(is_floating(x.dtype()), fn, ": tokens must be floating point, got ", x.dtype());
  const int64_t T = x.size(0);
  const bool noisy = nopts_.noisy && eps.defined();
  if (eps.defined()) {
    MOELAB_CHECK(eps.dim() == 2 && eps.size(0) == T && eps.size(1) == E, fn, ": noise eps must be [T, E] = [", T, ", ",
                 E, "], got ", eps.shape(), " (x ", x.shape(), ")");
    MOELAB_CHECK(is_floating(eps.dtype()), fn, ": noise eps must be floating point, got ", eps.dtype());
  }
  Tensor xr = routing_input(x);
  const DType dt = xr.dtype();
  RoutingDecision d;
  Tensor clean = matmul(xr, w_gate_.to(dt));
  Tensor stddev;
  if (noisy) {
    stddev = softplus(matmul(xr, w_noise_.to(dt))) + nopts_.noise_epsilon;
    d.logits = clean + eps.to(dt).detach() * stddev;
  } else {
    d.logits = clean;
  }
  d.probs = softmax(d.logits, 1);
  // One topk of k + 1 values gives the selection and both thresholds of the load estimate.
  const int64_t m = std::min(k + 1, E);
  auto [top_vals, top_ids] = topk(d.logits, m, 1);
  Tensor top_k_vals = m == k ? top_vals : top_vals.narrow(1, 0, k);
  d.expert_ids = m == k ? top_ids : top_ids.narrow(1, 0, k).contiguous();
  d.weights = softmax(top_k_vals, 1);
  d.kept = ones({T, k}, kBool);
  Tensor gates = scatter(zeros({T, E}, dt), 1, d.expert_ids, d.weights);
  d.losses["importance"] = importance_loss(gates);
  Tensor load;
  if (noisy && k < E) {
    Tensor threshold_if_in = top_vals.narrow(1, k, 1);       // (k+1)-th largest H
    Tensor threshold_if_out = top_vals.narrow(1, k - 1, 1);  // k-th largest H
    Tensor is_in = gt(d.logits, threshold_if_in);
    Tensor prob_if_in = normal_cdf((clean - threshold_if_in) / stddev);
    Tensor prob_if_out = normal_cdf((clean - threshold_if_out) / stddev);
    load = where(is_in, prob_if_in, prob_if_out).sum(0);
  } else {
    // The references' _gates_to_load: how many tokens each expert received (a constant).
    load = bincount(d.expert_ids.reshape({T * k}), Tensor(), E).to(dt);
  }
  d.losses["load"] = load_loss(load);
  add_standard_losses(d);
  sum_losses(d, {{"importance", nopts_.loss_coef},
                 {"load", nopts_.loss_coef},
                 {"load_balancing", opts_.load_balance_coef},
                 {"z_loss", opts_.z_loss_coef}});
  return d;
}

}  // namespace moelab::moe
