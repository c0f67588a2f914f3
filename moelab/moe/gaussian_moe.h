// Gaussian mixture of experts: the statistical model of the softmax-gating MoE papers
// (Nguyen, Nguyen, Ho et al.: "Statistical perspective of top-K sparse softmax gating mixture of
// experts", ICLR 2024; "Demystifying softmax gating function in Gaussian mixture of experts",
// NeurIPS 2023; "Is temperature sample efficient for softmax Gaussian mixture of experts?", ICML 2024).
//
//   p(y | x) = sum_i g_i(x) N(y | a_i^T x + b_i, sigma2_i),   x in R^d, y in R, i = 1..k,
//
// with the gate g(x) one of
//   top-K sparse softmax:  g = softmax over the K largest of s_i = beta1_i^T x + beta0_i (others 0);
//                          K = k is the dense softmax gate;
//   temperature (dense-to-sparse):  g = softmax(s / tau);
//   activation:            g = softmax(act(s) / tau), act = tanh or sigmoid.
// Everything is written with moelab ops, so log-likelihoods are differentiable (any order) in the
// parameters. Use f64 (f32 works but the fitting code assumes f64 accuracy).
#pragma once
#include <cstdint>
#include <optional>

#include "moelab/core/generator.h"
#include "moelab/core/tensor.h"
#include "moelab/moe/router_dense_to_sparse.h"

namespace moelab::moe {

struct GaussianMoEParams {
  Tensor beta1;   // [k, d] gate slopes
  Tensor beta0;   // [k]    gate intercepts
  Tensor a;       // [k, d] expert slopes
  Tensor b;       // [k]    expert intercepts
  Tensor sigma2;  // [k]    expert variances (> 0)

  int64_t num_experts() const { return beta0.size(0); }
  int64_t dim() const { return beta1.size(1); }
  GaussianMoEParams clone() const;   // deep copy, detached
  GaussianMoEParams detach() const;  // same storage, no history
};

enum class GateKind { kTopKSoftmax, kTemperature, kActivation };
// GateActivation (none | tanh | sigmoid) is the dense-to-sparse router's (router_dense_to_sparse.h);
// kNone makes the activation gate the temperature gate.

struct GaussianGating {
  GateKind kind = GateKind::kTopKSoftmax;
  int64_t top_k = 0;  // kTopKSoftmax: K (0 means K = k, the dense softmax gate)
  double tau = 1.0;   // kTemperature / kActivation: temperature (> 0)
  GateActivation activation = GateActivation::kTanh;

  static GaussianGating softmax() { return {}; }
  static GaussianGating topk(int64_t k) { return {GateKind::kTopKSoftmax, k, 1.0, GateActivation::kTanh}; }
  static GaussianGating temperature(double t) { return {GateKind::kTemperature, 0, t, GateActivation::kTanh}; }
  static GaussianGating activation_gate(GateActivation act, double t = 1.0) {
    return {GateKind::kActivation, 0, t, act};
  }
};

// Throws moelab::Error (naming `fn`) unless the shapes agree, the dtypes are one floating dtype,
// sigma2 > 0, and the gating options are valid for k experts (1 <= K <= k, tau > 0).
void check_gaussian_moe(const GaussianMoEParams& p, const GaussianGating& g, const char* fn);

// Gate weights g(x) [n, k] (zeros outside the top-K for the sparse gate); differentiable.
Tensor gaussian_moe_gates(const GaussianMoEParams& p, const GaussianGating& g, const Tensor& x);
// log N(y_n | a_i^T x_n + b_i, sigma2_i) [n, k].
Tensor gaussian_expert_log_density(const GaussianMoEParams& p, const Tensor& x, const Tensor& y);
// log p(y_n | x_n) [n] (logsumexp over the selected experts, stable), density = its exp.
Tensor gaussian_moe_log_density(const GaussianMoEParams& p, const GaussianGating& g, const Tensor& x,
                                const Tensor& y);
Tensor gaussian_moe_density(const GaussianMoEParams& p, const GaussianGating& g, const Tensor& x,
                            const Tensor& y);
// Mean log-likelihood (1/n) sum_n log p(y_n | x_n), 0-d.
Tensor gaussian_moe_log_likelihood(const GaussianMoEParams& p, const GaussianGating& g, const Tensor& x,
                                   const Tensor& y);
// Posterior expert probabilities (E-step responsibilities) [n, k], no gradient.
Tensor gaussian_moe_responsibilities(const GaussianMoEParams& p, const GaussianGating& g, const Tensor& x,
                                     const Tensor& y);

// Sampling. x: n draws of the covariate distribution (uniform on [-1, 1]^d or N(0, I_d)); y | x
// from the model (expert chosen from g(x), then Gaussian noise).
enum class CovariateDist { kUniform, kNormal };
Tensor sample_covariates(int64_t n, int64_t d, CovariateDist dist, Generator& gen, DType dtype = kF64);
Tensor sample_gaussian_moe_y(const GaussianMoEParams& p, const GaussianGating& g, const Tensor& x,
                             Generator& gen);
struct GaussianMoESample {
  Tensor x;  // [n, d]
  Tensor y;  // [n]
};
GaussianMoESample sample_gaussian_moe(const GaussianMoEParams& p, const GaussianGating& g, int64_t n,
                                      CovariateDist dist, Generator& gen);

// ---- Fitting ----
// EM (generalised for the gate): E-step responsibilities r [n, k]; M-step closed form for the
// experts (weighted least squares for (a_i, b_i) on [x, 1], weighted residual variance, floored at
// min_sigma2) and `gate_steps` Adam steps (lr gate_lr; the Adam state persists across EM
// iterations) on the expected complete log-likelihood (1/n) sum_n sum_i r_ni log g_i(x_n), kept only
// if the log-likelihood does not drop (else the gate is restored and gate_lr halved), so the
// log-likelihood never decreases. For the top-K gate (K < k) the surrogate does not see the
// selection boundaries (the likelihood is discontinuous there), so the gate mostly stays where it
// was initialised: give a good init. Stops when
// the log-likelihood changes by less than tol (absolute) or after max_iters. Restarts: `init` (if
// given) is run first, then `restarts` random starts (b_i = y at a random sample, a_i = 0,
// beta1 ~ N(0, 1), beta0 = 0, sigma2 = var(y)); the best final log-likelihood wins. All randomness
// comes from Generator(seed), so a fit is a pure function of its inputs.
struct GaussianMoEFitOptions {
  int64_t num_experts = 2;
  int64_t restarts = 3;
  int64_t max_iters = 300;
  int64_t gate_steps = 5;
  double gate_lr = 0.05;
  double tol = 1e-9;
  double min_sigma2 = 1e-6;
  uint64_t seed = 0;
  std::optional<GaussianMoEParams> init;
};
struct GaussianMoEFit {
  GaussianMoEParams params;
  double log_likelihood = 0;  // mean log-likelihood of the winner
  int64_t iterations = 0;     // EM iterations of the winner
};
GaussianMoEFit fit_gaussian_moe_em(const Tensor& x, const Tensor& y, const GaussianGating& g,
                                   const GaussianMoEFitOptions& opts);

// Direct maximum likelihood: `steps` Adam steps (lr) on -log_likelihood over (beta1, beta0, a, b,
// log sigma2), from `init`. Returns the fitted (detached) parameters.
GaussianMoEParams fit_gaussian_moe_mle(const Tensor& x, const Tensor& y, const GaussianGating& g,
                                       const GaussianMoEParams& init, int64_t steps = 500, double lr = 0.02);

// ---- Losses ----
// Voronoi loss D(G, G*) of the top-K and "Demystifying" papers (their Voronoi loss functions) with
// atoms theta_i = (beta1_i, a_i, b_i, sigma2_i) and masses exp(beta0_i):
//   A_j = { i : ||theta_i - theta*_j|| <= ||theta_i - theta*_l|| for all l } (ties to the lowest j),
//   D = sum_j | sum_{i in A_j} exp(beta0_i) - exp(beta0*_j) |
//     + sum_{j : |A_j| = 1} sum_{i in A_j} exp(beta0_i) (||dbeta1|| + ||da|| + |db| + |dsigma2|)
//     + sum_{j : |A_j| > 1} sum_{i in A_j} exp(beta0_i) (||dbeta1||^r + ||da||^r + |db|^r + |dsigma2|^r)
// with d. = (.)_i - (.)*_j and r = over_exponent (2 by default; the papers' exponents for over-fitted
// cells depend on |A_j| through rbar(|A_j|); 2 is the brief's simplification). Softmax gates are
// invariant under a common translation of (beta0, beta1); both G* and G are normalised first:
// G* by subtracting its last expert's (beta0, beta1) (the papers' convention beta*_{k*} = 0), G by
// the translation that gives the last true cell total mass 1 and an exp(beta0)-weighted mean beta1 of
// 0 (for an exactly-fitted model: subtracting the matched atom's gate parameters). The cells and the
// translation are found by a short fixed-point iteration started from cells of (a, b, sigma2) alone.
double voronoi_loss(const GaussianMoEParams& fitted, const GaussianMoEParams& truth, double over_exponent = 2.0);

// Distances between p(.|x) and q(.|x) averaged over the rows of x [m, d]: total variation
// (1/2) int |p - q| dy and Hellinger sqrt((1/2) int (sqrt p - sqrt q)^2 dy), integrated by the
// trapezoid rule on num_y points covering every component mean +- 10 sd of both models.
struct DensityDistance {
  double total_variation = 0;
  double hellinger = 0;
};
DensityDistance gaussian_moe_density_distance(const GaussianMoEParams& p, const GaussianGating& gp,
                                              const GaussianMoEParams& q, const GaussianGating& gq,
                                              const Tensor& x, int64_t num_y = 512);

}  // namespace moelab::moe
