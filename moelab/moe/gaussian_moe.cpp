#include "moelab/moe/gaussian_moe.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

#include "moelab/autograd/grad_mode.h"
#include "moelab/core/error.h"
#include "moelab/nn/optim/adam.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/indexing.h"
#include "moelab/ops/linalg.h"
#include "moelab/ops/linalg_decomp.h"
#include "moelab/ops/random.h"
#include "moelab/ops/reduce.h"
#include "moelab/ops/shape_ops.h"
#include "moelab/ops/softmax.h"
#include "moelab/ops/sort.h"

namespace moelab::moe {

GaussianMoEParams GaussianMoEParams::clone() const {
  return {beta1.detach().clone(), beta0.detach().clone(), a.detach().clone(), b.detach().clone(),
          sigma2.detach().clone()};
}
GaussianMoEParams GaussianMoEParams::detach() const {
  return {beta1.detach(), beta0.detach(), a.detach(), b.detach(), sigma2.detach()};
}

void check_gaussian_moe(const GaussianMoEParams& p, const GaussianGating& g, const char* fn) {
  const Tensor* all[] = {&p.beta1, &p.beta0, &p.a, &p.b, &p.sigma2};
  const char* names[] = {"beta1", "beta0", "a", "b", "sigma2"};
  for (int i = 0; i < 5; ++i) MOELAB_CHECK(all[i]->defined(), fn, ": parameter ", names[i], " is undefined");
  MOELAB_CHECK(p.beta0.dim() == 1, fn, ": beta0 must be [k], got shape ", p.beta0.shape());
  const int64_t k = p.beta0.size(0);
  MOELAB_CHECK(k >= 1, fn, ": need at least one expert, got beta0 of shape ", p.beta0.shape());
  MOELAB_CHECK(p.beta1.dim() == 2 && p.beta1.size(0) == k, fn, ": beta1 must be [k = ", k, ", d], got shape ",
               p.beta1.shape());
  const int64_t d = p.beta1.size(1);
  MOELAB_CHECK(p.a.dim() == 2 && p.a.size(0) == k && p.a.size(1) == d, fn, ": a must be [k, d] = [", k, ", ", d,
               "], got shape ", p.a.shape());
  MOELAB_CHECK(p.b.dim() == 1 && p.b.size(0) == k, fn, ": b must be [k = ", k, "], got shape ", p.b.shape());
  MOELAB_CHECK(p.sigma2.dim() == 1 && p.sigma2.size(0) == k, fn, ": sigma2 must be [k = ", k, "], got shape ",
               p.sigma2.shape());
  const DType dt = p.beta1.dtype();
  MOELAB_CHECK(is_floating(dt), fn, ": parameters must be floating, got ", dt);
  for (int i = 1; i < 5; ++i)
    MOELAB_CHECK(all[i]->dtype() == dt, fn, ": parameter ", names[i], " has dtype ", all[i]->dtype(),
                 ", beta1 has ", dt);
  {
    NoGradGuard ng;
    MOELAB_CHECK(k == 0 || min(p.sigma2).item<double>() > 0, fn, ": sigma2 must be > 0, got min ",
                 min(p.sigma2).item<double>());
  }
  if (g.kind == GateKind::kTopKSoftmax) {
    MOELAB_CHECK(g.top_k >= 0 && g.top_k <= k, fn, ": top_k must be in [1, k = ", k, "] (0 for dense), got ",
                 g.top_k);
  } else {
    MOELAB_CHECK(g.tau > 0 && std::isfinite(g.tau), fn, ": tau must be positive, got ", g.tau);
  }
}

namespace {

void check_xy(const GaussianMoEParams& p, const Tensor& x, const Tensor* y, const char* fn) {
  MOELAB_CHECK(x.defined() && x.dim() == 2 && x.size(1) == p.dim(), fn, ": x must be [n, d = ", p.dim(),
               "], got shape ", x.defined() ? x.shape() : Shape{});
  MOELAB_CHECK(x.dtype() == p.beta1.dtype(), fn, ": x has dtype ", x.dtype(), ", parameters ", p.beta1.dtype());
  if (y) {
    MOELAB_CHECK(y->defined() && y->dim() == 1 && y->size(0) == x.size(0), fn, ": y must be [n = ", x.size(0),
                 "], got shape ", y->defined() ? y->shape() : Shape{});
    MOELAB_CHECK(y->dtype() == x.dtype(), fn, ": y has dtype ", y->dtype(), ", x has ", x.dtype());
  }
}

// Log gate weights of the selected experts: logw [n, K] and their ids idx [n, K] (undefined idx:
// all k experts, in order).
struct GateLog {
  Tensor logw, idx;
};

GateLog gate_log(const GaussianMoEParams& p, const GaussianGating& g, const Tensor& x) {
  Tensor s = linear(x, p.beta1, p.beta0);  // [n, k]
  const int64_t k = p.num_experts();
  switch (g.kind) {
    case GateKind::kTopKSoftmax: {
      const int64_t K = g.top_k == 0 ? k : g.top_k;
      if (K == k) return {log_softmax(s, 1), Tensor()};
      auto [v, idx] = topk(s, K, 1);
      return {log_softmax(v, 1), idx};
    }
    case GateKind::kTemperature:
      return {log_softmax(s / g.tau, 1), Tensor()};
    case GateKind::kActivation: {
      Tensor act = g.activation == GateActivation::kTanh ? tanh(s) : g.activation == GateActivation::kSigmoid ? sigmoid(s) : s;
      return {log_softmax(act / g.tau, 1), Tensor()};
    }
  }
  MOELAB_FAIL("gaussian_moe: unknown gate kind");
}

Tensor select_experts(const Tensor& per_expert, const Tensor& idx) {
  return idx.defined() ? gather(per_expert, 1, idx) : per_expert;
}

Tensor expert_logpdf(const GaussianMoEParams& p, const Tensor& x, const Tensor& y) {
  Tensor mu = linear(x, p.a, p.b);  // [n, k]
  Tensor r = y.unsqueeze(1) - mu;
  return (log(p.sigma2) + std::log(2 * std::numbers::pi)) * -0.5 - square(r) / (p.sigma2 * 2.0);
}

}  // namespace

Tensor gaussian_moe_gates(const GaussianMoEParams& p, const GaussianGating& g, const Tensor& x) {
  check_gaussian_moe(p, g, "gaussian_moe_gates");
  check_xy(p, x, nullptr, "gaussian_moe_gates");
  GateLog gl = gate_log(p, g, x);
  Tensor w = exp(gl.logw);
  return gl.idx.defined() ? scatter(zeros({x.size(0), p.num_experts()}, x.dtype()), 1, gl.idx, w) : w;
}

Tensor gaussian_expert_log_density(const GaussianMoEParams& p, const Tensor& x, const Tensor& y) {
  check_gaussian_moe(p, GaussianGating{}, "gaussian_expert_log_density");
  check_xy(p, x, &y, "gaussian_expert_log_density");
  return expert_logpdf(p, x, y);
}

Tensor gaussian_moe_log_density(const GaussianMoEParams& p, const GaussianGating& g, const Tensor& x,
                                const Tensor& y) {
  check_gaussian_moe(p, g, "gaussian_moe_log_density");
  check_xy(p, x, &y, "gaussian_moe_log_density");
  GateLog gl = gate_log(p, g, x);
  return logsumexp(gl.logw + select_experts(expert_logpdf(p, x, y), gl.idx), {1});
}

Tensor gaussian_moe_density(const GaussianMoEParams& p, const GaussianGating& g, const Tensor& x,
                            const Tensor& y) {
  return exp(gaussian_moe_log_density(p, g, x, y));
}

Tensor gaussian_moe_log_likelihood(const GaussianMoEParams& p, const GaussianGating& g, const Tensor& x,
                                   const Tensor& y) {
  MOELAB_CHECK(x.defined() && x.dim() == 2 && x.size(0) > 0, "gaussian_moe_log_likelihood: need n > 0 samples");
  return mean(gaussian_moe_log_density(p, g, x, y));
}

Tensor gaussian_moe_responsibilities(const GaussianMoEParams& p, const GaussianGating& g, const Tensor& x,
                                     const Tensor& y) {
  check_gaussian_moe(p, g, "gaussian_moe_responsibilities");
  check_xy(p, x, &y, "gaussian_moe_responsibilities");
  NoGradGuard ng;
  GateLog gl = gate_log(p, g, x);
  Tensor r = softmax(gl.logw + select_experts(expert_logpdf(p, x, y), gl.idx), 1);
  return gl.idx.defined() ? scatter(zeros({x.size(0), p.num_experts()}, x.dtype()), 1, gl.idx, r) : r;
}

Tensor sample_covariates(int64_t n, int64_t d, CovariateDist dist, Generator& gen, DType dtype) {
  MOELAB_CHECK(n >= 0 && d >= 1, "sample_covariates: need n >= 0 and d >= 1, got n = ", n, ", d = ", d);
  MOELAB_CHECK(is_floating(dtype), "sample_covariates: dtype must be floating, got ", dtype);
  if (dist == CovariateDist::kUniform) return rand({n, d}, dtype, &gen) * 2.0 - 1.0;
  return randn({n, d}, dtype, &gen);
}

Tensor sample_gaussian_moe_y(const GaussianMoEParams& p, const GaussianGating& g, const Tensor& x,
                             Generator& gen) {
  check_gaussian_moe(p, g, "sample_gaussian_moe_y");
  check_xy(p, x, nullptr, "sample_gaussian_moe_y");
  NoGradGuard ng;
  const int64_t n = x.size(0);
  if (n == 0) return zeros({0}, x.dtype());
  Tensor z = multinomial(gaussian_moe_gates(p, g, x), 1, true, &gen);  // [n, 1]
  Tensor mu = gather(linear(x, p.a, p.b), 1, z).squeeze(1);
  Tensor sd = sqrt(index_select(p.sigma2, 0, z.squeeze(1)));
  return mu + sd * randn({n}, x.dtype(), &gen);
}

GaussianMoESample sample_gaussian_moe(const GaussianMoEParams& p, const GaussianGating& g, int64_t n,
                                      CovariateDist dist, Generator& gen) {
  check_gaussian_moe(p, g, "sample_gaussian_moe");
  Tensor x = sample_covariates(n, p.dim(), dist, gen, p.beta1.dtype());
  return {x, sample_gaussian_moe_y(p, g, x, gen)};
}

// ---- Fitting ----
namespace {

struct EMRun {
  GaussianMoEParams params;
  double ll = -std::numeric_limits<double>::infinity();
  int64_t iters = 0;
};

EMRun em_once(const Tensor& x, const Tensor& y, const GaussianGating& g, GaussianMoEParams p,
              const GaussianMoEFitOptions& o) {
  const int64_t n = x.size(0), d = x.size(1);
  Tensor beta1 = p.beta1.detach().clone().requires_grad_();
  Tensor beta0 = p.beta0.detach().clone().requires_grad_();
  p.beta1 = beta1;
  p.beta0 = beta0;
  optim::AdamOptions ao;
  ao.lr = o.gate_lr;
  optim::Adam opt({beta1, beta0}, ao);
  Tensor x1 = cat({x, ones({n, 1}, x.dtype())}, 1);          // [n, d + 1]
  Tensor ridge = eye(d + 1, x.dtype()) * 1e-10 * double(n);  // keeps empty experts solvable
  EMRun run;
  double prev = -std::numeric_limits<double>::infinity();
  for (int64_t it = 0; it < o.max_iters; ++it) {
    Tensor r = gaussian_moe_responsibilities(p, g, x, y);  // [n, k]
    {
      NoGradGuard ng;
      // Experts: weighted least squares per expert, batched over k.
      Tensor xr_t = (x1.unsqueeze(0) * r.t().unsqueeze(2)).transpose(1, 2);  // [k, d + 1, n]
      Tensor A = matmul(xr_t, x1) + ridge;                                 // [k, d + 1, d + 1]
      Tensor theta = linalg::solve(A, matmul(xr_t, y.unsqueeze(1))).squeeze(2);   // [k, d + 1]
      p.a = theta.narrow(1, 0, d).contiguous();
      p.b = theta.select(1, d).contiguous();
      Tensor resid2 = square(y.unsqueeze(1) - linear(x, p.a, p.b));
      Tensor nk = clamp(sum(r, {0}), 1e-300, std::nullopt);
      p.sigma2 = clamp(sum(r * resid2, {0}) / nk, o.min_sigma2, std::nullopt);
    }
    // Gate: a few Adam steps on the expected complete log-likelihood. The step is kept only if
    // the log-likelihood does not drop (it can for the top-K gate, whose selection the surrogate
    // does not see); otherwise the gate is restored and its learning rate halved.
    auto loglik = [&] {
      NoGradGuard ng;
      return gaussian_moe_log_likelihood(p, g, x, y).item<double>();
    };
    double ll = loglik();
    if (o.gate_steps > 0 && *opt.param_groups()[0].lr > 1e-6) {
      Tensor keep1, keep0;
      {
        NoGradGuard ng;
        keep1 = beta1.clone();
        keep0 = beta0.clone();
      }
      for (int64_t s = 0; s < o.gate_steps; ++s) {
        opt.zero_grad();
        GateLog gl = gate_log(p, g, x);
        Tensor q = -sum(select_experts(r, gl.idx) * gl.logw) / double(n);
        q.backward();
        opt.step();
      }
      const double ll_gate = loglik();
      if (ll_gate >= ll || !std::isfinite(ll)) {
        ll = ll_gate;
      } else {
        NoGradGuard ng;
        beta1.copy_(keep1);
        beta0.copy_(keep0);
        *opt.param_groups()[0].lr *= 0.5;
      }
    }
    run.iters = it + 1;
    run.ll = ll;
    if (!std::isfinite(ll)) break;
    if (std::abs(ll - prev) < o.tol) break;
    prev = ll;
  }
  run.params = p.clone();
  return run;
}

}  // namespace

GaussianMoEFit fit_gaussian_moe_em(const Tensor& x, const Tensor& y, const GaussianGating& g,
                                   const GaussianMoEFitOptions& o) {
  MOELAB_CHECK(o.num_experts >= 1, "fit_gaussian_moe_em: num_experts must be >= 1, got ", o.num_experts);
  MOELAB_CHECK(o.restarts >= 0 && o.max_iters >= 1 && o.gate_steps >= 0 && o.min_sigma2 > 0,
               "fit_gaussian_moe_em: need restarts >= 0, max_iters >= 1, gate_steps >= 0, min_sigma2 > 0");
  MOELAB_CHECK(o.restarts > 0 || o.init.has_value(), "fit_gaussian_moe_em: restarts = 0 needs an init");
  MOELAB_CHECK(x.defined() && x.dim() == 2 && x.size(0) > 0 && x.size(1) >= 1,
               "fit_gaussian_moe_em: x must be [n > 0, d >= 1], got shape ", x.defined() ? x.shape() : Shape{});
  MOELAB_CHECK(is_floating(x.dtype()), "fit_gaussian_moe_em: x must be floating, got ", x.dtype());
  const int64_t n = x.size(0), d = x.size(1), k = o.num_experts;
  const DType dt = x.dtype();
  Tensor xc = x.detach().contiguous(), yc = y.defined() ? y.detach().contiguous() : y;
  if (o.init) {
    check_gaussian_moe(*o.init, g, "fit_gaussian_moe_em");
    MOELAB_CHECK(o.init->num_experts() == k && o.init->dim() == d, "fit_gaussian_moe_em: init has k = ",
                 o.init->num_experts(), ", d = ", o.init->dim(), ", expected k = ", k, ", d = ", d);
  }
  GaussianMoEParams probe{zeros({k, d}, dt), zeros({k}, dt), zeros({k, d}, dt), zeros({k}, dt), ones({k}, dt)};
  check_gaussian_moe(probe, g, "fit_gaussian_moe_em");
  check_xy(probe, xc, &yc, "fit_gaussian_moe_em");

  Generator gen(o.seed);
  EMRun best;
  bool have = false;
  auto consider = [&](EMRun r) {
    if (!have || (std::isfinite(r.ll) && r.ll > best.ll)) {
      best = std::move(r);
      have = true;
    }
  };
  if (o.init) consider(em_once(xc, yc, g, o.init->clone(), o));
  const double vy = std::max(var(yc, {}, 0).item<double>(), o.min_sigma2);
  for (int64_t s = 0; s < o.restarts; ++s) {
    GaussianMoEParams p0;
    p0.beta1 = randn({k, d}, dt, &gen);
    p0.beta0 = zeros({k}, dt);
    p0.a = zeros({k, d}, dt);
    p0.b = index_select(yc, 0, randint(0, n, {k}, kI64, &gen));
    p0.sigma2 = full({k}, vy, dt);
    consider(em_once(xc, yc, g, p0, o));
  }
  return {best.params, best.ll, best.iters};
}

GaussianMoEParams fit_gaussian_moe_mle(const Tensor& x, const Tensor& y, const GaussianGating& g,
                                       const GaussianMoEParams& init, int64_t steps, double lr) {
  check_gaussian_moe(init, g, "fit_gaussian_moe_mle");
  check_xy(init, x, &y, "fit_gaussian_moe_mle");
  MOELAB_CHECK(steps >= 0 && lr > 0, "fit_gaussian_moe_mle: need steps >= 0 and lr > 0, got ", steps, ", ", lr);
  GaussianMoEParams c = init.clone();
  Tensor ls = log(c.sigma2);
  for (Tensor* t : {&c.beta1, &c.beta0, &c.a, &c.b, &ls}) t->requires_grad_();
  optim::AdamOptions ao;
  ao.lr = lr;
  optim::Adam opt({c.beta1, c.beta0, c.a, c.b, ls}, ao);
  Tensor xd = x.detach(), yd = y.detach();
  for (int64_t s = 0; s < steps; ++s) {
    opt.zero_grad();
    GaussianMoEParams p{c.beta1, c.beta0, c.a, c.b, exp(ls)};
    Tensor loss = -gaussian_moe_log_likelihood(p, g, xd, yd);
    loss.backward();
    opt.step();
  }
  NoGradGuard ng;
  return GaussianMoEParams{c.beta1, c.beta0, c.a, c.b, exp(ls)}.clone();
}

}  // namespace moelab::moe
