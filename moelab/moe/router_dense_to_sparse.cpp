#include "moelab/moe/router_dense_to_sparse.h"

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
const DenseToSparseOptions& checked(const DenseToSparseOptions& ds) {
  MOELAB_CHECK(std::isfinite(ds.temperature) && ds.temperature > 0,
               "DenseToSparseGate: temperature must be positive, got ", ds.temperature);
  MOELAB_CHECK(std::isfinite(ds.threshold) && ds.threshold >= 0 && ds.threshold < 1,
               "DenseToSparseGate: threshold must be in [0, 1), got ", ds.threshold);
  return ds;
}
}  // namespace

double anneal_temperature(double tau0, double tau_min, int64_t step, int64_t total_steps, AnnealSchedule schedule) {
  MOELAB_CHECK(std::isfinite(tau0) && tau0 > 0 && std::isfinite(tau_min) && tau_min > 0,
               "anneal_temperature: tau0 and tau_min must be positive, got ", tau0, " and ", tau_min);
  MOELAB_CHECK(total_steps > 0, "anneal_temperature: total_steps must be positive, got ", total_steps);
  MOELAB_CHECK(step >= 0, "anneal_temperature: step must be >= 0, got ", step);
  const double r = std::min(static_cast<double>(step) / static_cast<double>(total_steps), 1.0);
  if (schedule == AnnealSchedule::kLinear) return tau0 + (tau_min - tau0) * r;
  return tau0 * std::pow(tau_min / tau0, r);
}

DenseToSparseGate::DenseToSparseGate(const RouterOptions& opts, const DenseToSparseOptions& ds)
    : Router("DenseToSparseGate", opts),
      ds_(checked(ds)),
      weight_(register_parameter("weight", empty({opts.num_experts, opts.d_model}, opts.dtype))),
      bias_(ds.bias ? register_parameter("bias", empty({opts.num_experts}, opts.dtype)) : register_buffer("bias", Tensor())),
      tau_(ds.learnable_temperature ? register_parameter("temperature", full({}, ds.temperature, opts.dtype))
                                    : register_buffer("temperature", full({}, ds.temperature, opts.dtype))) {
  nn::init::kaiming_uniform_(weight_, std::sqrt(5.0));
  if (bias_.defined()) {
    double bound = 1.0 / std::sqrt(static_cast<double>(opts.d_model));
    nn::init::uniform_(bias_, -bound, bound);
  }
}

void DenseToSparseGate::set_temperature(double tau) {
  MOELAB_CHECK(std::isfinite(tau) && tau > 0, "DenseToSparseGate::set_temperature: tau must be positive, got ", tau);
  NoGradGuard ng;
  tau_.fill_(tau);
}

double DenseToSparseGate::anneal(double tau0, double tau_min, int64_t step, int64_t total_steps, AnnealSchedule schedule) {
  double tau = anneal_temperature(tau0, tau_min, step, total_steps, schedule);
  set_temperature(tau);
  return tau;
}

double DenseToSparseGate::temperature() const { return tau_.to(kF64).item<double>(); }

RoutingDecision DenseToSparseGate::route(const Tensor& x) {
  const double tau_now = temperature();
  MOELAB_CHECK(std::isfinite(tau_now) && tau_now > 0, "DenseToSparseGate: the temperature must stay positive, it is ",
               tau_now);
  Tensor xr = routing_input(x);
  const DType dt = xr.dtype();
  const int64_t T = xr.size(0), k = opts_.top_k;
  RoutingDecision d;
  Tensor z = linear(xr, weight_.to(dt), bias_.defined() ? bias_.to(dt) : Tensor());
  if (ds_.activation == GateActivation::kTanh) z = tanh(z);
  if (ds_.activation == GateActivation::kSigmoid) z = sigmoid(z);
  d.logits = div(z, tau_.to(dt));
  d.probs = softmax(d.logits, 1);
  auto [w, ids] = topk(d.probs, k, 1);
  d.expert_ids = ids;
  if (ds_.renormalize && k < opts_.num_experts) w = div(w, sum(w, {1}, true));
  if (ds_.threshold > 0) {
    Tensor keep;
    {
      NoGradGuard ng;
      keep = ge(w.detach(), scalar_tensor(ds_.threshold, dt));
      if (k > 0 && T > 0) keep.select(1, 0).fill_(true);
    }
    w = mul(w, keep.to(dt));
    if (ds_.renormalize) w = div(w, sum(w, {1}, true));
    d.kept = keep;
  } else {
    d.kept = ones({T, k}, kBool);
  }
  d.weights = w;
  add_standard_losses(d);
  return d;
}

}  // namespace moelab::moe
