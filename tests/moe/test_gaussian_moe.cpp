// Gaussian MoE statistics: densities under each gate, sampling, EM/MLE fitting, Voronoi loss.
#include <cmath>
#include <numbers>

#include "autograd/grad_test_util.h"
#include "support/check.h"

using namespace moelab;
using namespace moelab::moe;
using moelab::testing::check_close;
using moelab::testing::Golden;

namespace {

GaussianMoEParams params3() {  // k = 3 experts, d = 2
  return {tensor({{1.0, -0.5}, {-0.7, 0.4}, {0.2, 0.9}}), tensor({0.3, -0.2, 0.1}),
          tensor({{0.8, -0.3}, {-1.2, 0.5}, {0.1, 0.7}}), tensor({0.5, -0.4, 1.1}), tensor({0.25, 0.5, 0.8})};
}

GaussianMoEParams truth2() {  // k = 2, d = 1, well separated experts
  return {tensor({{2.0}, {0.0}}), tensor({0.3, 0.0}), tensor({{2.0}, {-2.0}}), tensor({1.0, -1.0}),
          tensor({0.04, 0.09})};
}

std::vector<GaussianGating> all_gates() {
  return {GaussianGating::softmax(), GaussianGating::topk(1), GaussianGating::topk(2), GaussianGating::temperature(0.5),
          GaussianGating::activation_gate(GateActivation::kTanh, 0.7),
          GaussianGating::activation_gate(GateActivation::kSigmoid, 0.3)};
}

GaussianMoEParams permuted(const GaussianMoEParams& p, const Tensor& perm) {
  return {index_select(p.beta1, 0, perm), index_select(p.beta0, 0, perm), index_select(p.a, 0, perm),
          index_select(p.b, 0, perm), index_select(p.sigma2, 0, perm)};
}

}  // namespace

TEST_CASE("moe gaussian: the conditional density integrates to one in y under every gate") {
  GaussianMoEParams p = params3();
  Tensor x = tensor({{0.3, -0.8}, {-1.0, 1.0}, {0.0, 0.0}});
  const int64_t G = 4001;
  Tensor yg = linspace(-12.0, 12.0, G, kF64);
  for (const GaussianGating& g : all_gates()) {
    Tensor dens = gaussian_moe_density(p, g, repeat_interleave(x, G, 0), repeat(yg, {3})).view({3, G});
    Tensor integral = (sum(dens, {1}) - (dens.select(1, 0) + dens.select(1, G - 1)) * 0.5) * (24.0 / (G - 1));
    check_close(integral, ones({3}, kF64), 1e-8);
  }
}

TEST_CASE("moe gaussian: gates are the softmax over the top-K, tau equivalences and the tau to 0 limit") {
  GaussianMoEParams p = params3();
  Tensor x = randn({6, 2}, kF64);
  Tensor s = linear(x, p.beta1, p.beta0);
  // Top-2: softmax over the two largest scores, zeros elsewhere.
  auto [v, idx] = topk(s, 2, 1);
  Tensor expect = scatter(zeros({6, 3}, kF64), 1, idx, softmax(v, 1));
  check_close(gaussian_moe_gates(p, GaussianGating::topk(2), x), expect, 1e-14);
  // K = k and K = 0 are the dense softmax, and so is the temperature gate with tau = 1.
  check_close(gaussian_moe_gates(p, GaussianGating::topk(3), x), softmax(s, 1), 1e-14);
  check_close(gaussian_moe_gates(p, GaussianGating::softmax(), x), softmax(s, 1), 1e-14);
  check_close(gaussian_moe_gates(p, GaussianGating::temperature(1.0), x), softmax(s, 1), 1e-14);
  check_close(gaussian_moe_gates(p, GaussianGating::temperature(0.25), x), softmax(s * 4.0, 1), 1e-14);
  // Activation gates.
  check_close(gaussian_moe_gates(p, GaussianGating::activation_gate(GateActivation::kTanh, 0.5), x),
              softmax(tanh(s) / 0.5, 1), 1e-14);
  check_close(gaussian_moe_gates(p, GaussianGating::activation_gate(GateActivation::kSigmoid, 2.0), x),
              softmax(sigmoid(s) / 2.0, 1), 1e-14);
  // tau -> 0: the temperature gate becomes the top-1 (argmax) gate.
  check_close(gaussian_moe_gates(p, GaussianGating::temperature(1e-4), x), gaussian_moe_gates(p, GaussianGating::topk(1), x),
              1e-6);
  // Rows sum to one.
  for (const GaussianGating& g : all_gates()) check_close(sum(gaussian_moe_gates(p, g, x), {1}), ones({6}, kF64), 1e-14);
}

TEST_CASE("moe gaussian: log-likelihood matches the direct formula") {
  GaussianMoEParams p = params3();
  Tensor x = randn({9, 2}, kF64), y = randn({9}, kF64) * 2.0;
  for (const GaussianGating& g : all_gates()) {
    Tensor gates = gaussian_moe_gates(p, g, x);
    Tensor mu = matmul(x, p.a.t()) + p.b;
    Tensor comp = exp(-square(y.unsqueeze(1) - mu) / (p.sigma2 * 2.0)) / sqrt(p.sigma2 * (2 * std::numbers::pi));
    Tensor dens = sum(gates * comp, {1});
    check_close(gaussian_moe_density(p, g, x, y), dens, 1e-12);
    CHECK(gaussian_moe_log_likelihood(p, g, x, y).item<double>() ==
          doctest::Approx(mean(log(dens)).item<double>()).epsilon(1e-12));
    Tensor r = gaussian_moe_responsibilities(p, g, x, y);
    check_close(r, gates * comp / dens.unsqueeze(1), 1e-12);
  }
  // An extreme outlier stays finite in log space.
  Tensor far = full({1}, 1e4, kF64);
  CHECK(std::isfinite(gaussian_moe_log_density(p, GaussianGating::softmax(), x.narrow(0, 0, 1), far).item<double>()));
}

TEST_CASE("moe gaussian: gradcheck of the log-likelihood in every parameter (f64)") {
  GaussianMoEParams p0 = params3();
  Tensor x = randn({7, 2}, kF64), y = randn({7}, kF64);
  for (const GaussianGating& g : all_gates()) {
    std::vector<Tensor> leaves = {p0.beta1.clone(), p0.beta0.clone(), p0.a.clone(), p0.b.clone(), p0.sigma2.clone()};
    for (Tensor& t : leaves) t.requires_grad_();
    CHECK(moelab::testing::gradcheck1(
        [&](const std::vector<Tensor>& v) {
          return gaussian_moe_log_likelihood({v[0], v[1], v[2], v[3], v[4]}, g, x, y);
        },
        leaves));
  }
}

TEST_CASE("moe gaussian: sampling is deterministic and matches the model's mean") {
  GaussianMoEParams p = truth2();
  Generator g1(7), g2(7);
  auto s1 = sample_gaussian_moe(p, GaussianGating::softmax(), 20000, CovariateDist::kUniform, g1);
  auto s2 = sample_gaussian_moe(p, GaussianGating::softmax(), 20000, CovariateDist::kUniform, g2);
  CHECK(equal(s1.x, s2.x));
  CHECK(equal(s1.y, s2.y));
  CHECK(max(abs(s1.x)).item<double>() <= 1.0);
  // E[y] = E_x sum_i g_i(x) (a_i x + b_i); the sample mean is within ~4 standard errors.
  Tensor ey = sum(gaussian_moe_gates(p, GaussianGating::softmax(), s1.x) * (matmul(s1.x, p.a.t()) + p.b), {1});
  CHECK(std::abs(mean(s1.y - ey).item<double>()) < 4 * 2.2 / std::sqrt(20000.0));
  Generator g3(8);
  Tensor xn = sample_covariates(5000, 3, CovariateDist::kNormal, g3);
  CHECK(std::abs(var(xn).item<double>() - 1.0) < 0.05);
}

TEST_CASE("moe gaussian: Voronoi loss is zero at the truth and permutation and translation invariant") {
  GaussianMoEParams p = params3();
  CHECK(voronoi_loss(p, p) < 1e-12);
  // Permuting the fitted atoms changes nothing (the truth's normalisation is its own).
  GaussianMoEParams q = p.clone();
  q.a = q.a + 0.05;
  q.b = q.b - 0.03;
  const double base = voronoi_loss(q, p);
  CHECK(base > 0);
  CHECK(voronoi_loss(permuted(q, tensor({int64_t{2}, int64_t{0}, int64_t{1}})), p) == doctest::Approx(base));
  // A common translation of the gate parameters (which leaves the model unchanged) changes nothing.
  GaussianMoEParams t = q.clone();
  t.beta0 = t.beta0 + 0.7;
  t.beta1 = t.beta1 + tensor({0.4, -1.3});
  CHECK(voronoi_loss(t, p) == doctest::Approx(base));
  // Exactly specified: first-order in the parameter error.
  GaussianMoEParams e = p.clone();
  e.b = e.b + tensor({0.01, 0.0, 0.0});
  const double w0 = std::exp(0.3 - 0.1);  // exp(beta0_0) after subtracting the last expert's
  CHECK(voronoi_loss(e, p) == doctest::Approx(w0 * 0.01).epsilon(1e-9));
  // Over-specified: an atom split in two with half the mass each is at distance zero; moving the
  // two halves by +-h costs h^2 per atom (exponent 2).
  GaussianMoEParams s{cat({p.beta1.narrow(0, 0, 1), p.beta1}, 0), cat({p.beta0.narrow(0, 0, 1), p.beta0}, 0),
                      cat({p.a.narrow(0, 0, 1), p.a}, 0), cat({p.b.narrow(0, 0, 1), p.b}, 0),
                      cat({p.sigma2.narrow(0, 0, 1), p.sigma2}, 0)};
  s.beta0 = s.beta0 - tensor({std::log(2.0), std::log(2.0), 0.0, 0.0});
  CHECK(voronoi_loss(s, p) < 1e-12);
  s.b = s.b + tensor({0.01, -0.01, 0.0, 0.0});
  CHECK(voronoi_loss(s, p) == doctest::Approx(w0 * 1e-4).epsilon(1e-9));
}

TEST_CASE("moe gaussian: density distances are zero at the truth and grow with the error") {
  GaussianMoEParams p = truth2();
  Tensor x = linspace(-1.0, 1.0, 50, kF64).unsqueeze(1);
  auto d0 = gaussian_moe_density_distance(p, GaussianGating::softmax(), p, GaussianGating::softmax(), x);
  CHECK(d0.total_variation == doctest::Approx(0.0).scale(1e-12));
  CHECK(d0.hellinger == doctest::Approx(0.0).scale(1e-12));
  GaussianMoEParams q = p.clone(), r = p.clone();
  q.b = q.b + 0.01;
  r.b = r.b + 0.1;
  auto dq = gaussian_moe_density_distance(q, GaussianGating::softmax(), p, GaussianGating::softmax(), x);
  auto dr = gaussian_moe_density_distance(r, GaussianGating::softmax(), p, GaussianGating::softmax(), x);
  CHECK(dq.total_variation > 0);
  CHECK(dr.total_variation > 5 * dq.total_variation);
  CHECK(dr.hellinger > 5 * dq.hellinger);
  CHECK(dq.hellinger <= std::sqrt(dq.total_variation) + 1e-12);  // H^2 <= TV
  CHECK(dr.total_variation <= 1.0);
}

TEST_CASE("moe gaussian: EM and direct MLE recover the parameters of a large easy sample") {
  GaussianMoEParams p = truth2();
  Generator gen(3);
  auto data = sample_gaussian_moe(p, GaussianGating::softmax(), 4000, CovariateDist::kUniform, gen);
  GaussianMoEFitOptions o;
  o.num_experts = 2;
  o.restarts = 3;
  o.max_iters = 150;
  o.seed = 11;
  GaussianMoEFit fit = fit_gaussian_moe_em(data.x, data.y, GaussianGating::softmax(), o);
  const double true_ll = gaussian_moe_log_likelihood(p, GaussianGating::softmax(), data.x, data.y).item<double>();
  CHECK(fit.log_likelihood >= true_ll - 1e-6);  // the MLE beats the truth on its own sample
  CHECK(voronoi_loss(fit.params, p) < 0.3);
  Tensor xe = linspace(-1.0, 1.0, 40, kF64).unsqueeze(1);
  auto dd = gaussian_moe_density_distance(fit.params, GaussianGating::softmax(), p, GaussianGating::softmax(), xe);
  CHECK(dd.hellinger < 0.05);
  // Deterministic given the seed.
  GaussianMoEFit again = fit_gaussian_moe_em(data.x, data.y, GaussianGating::softmax(), o);
  CHECK(equal(again.params.a, fit.params.a));
  CHECK(again.log_likelihood == fit.log_likelihood);
  // Direct MLE (Adam on the log-likelihood) from a perturbed start gets as far.
  GaussianMoEParams init = p.clone();
  init.a = init.a + 0.3;
  init.b = init.b - 0.2;
  init.beta1 = init.beta1 * 0.5;
  GaussianMoEParams mle = fit_gaussian_moe_mle(data.x, data.y, GaussianGating::softmax(), init, 300, 0.05);
  const double mle_ll = gaussian_moe_log_likelihood(mle, GaussianGating::softmax(), data.x, data.y).item<double>();
  CHECK(mle_ll > true_ll - 1e-3);
  CHECK(voronoi_loss(mle, p) < 0.3);
}

TEST_CASE("moe gaussian: EM fits a top-K sparse gated model") {
  GaussianMoEParams p{tensor({{3.0}, {-2.0}, {0.0}}), tensor({0.3, 0.2, 0.0}), tensor({{1.0}, {-1.5}, {0.5}}),
                      tensor({1.0, -1.0, 0.0}), tensor({0.04, 0.04, 0.09})};
  GaussianGating g = GaussianGating::topk(2);
  Generator gen(5);
  auto data = sample_gaussian_moe(p, g, 3000, CovariateDist::kUniform, gen);
  GaussianMoEFitOptions o;
  o.num_experts = 3;
  o.restarts = 0;
  o.max_iters = 100;
  GaussianMoEParams init = p.clone();
  init.b = init.b + tensor({0.1, -0.1, 0.1});
  o.init = init;
  GaussianMoEFit fit = fit_gaussian_moe_em(data.x, data.y, g, o);
  const double true_ll = gaussian_moe_log_likelihood(p, g, data.x, data.y).item<double>();
  CHECK(fit.log_likelihood >= true_ll - 1e-3);
  Tensor xe = linspace(-1.0, 1.0, 40, kF64).unsqueeze(1);
  CHECK(gaussian_moe_density_distance(fit.params, g, p, g, xe).hellinger < 0.05);
}

TEST_CASE("moe gaussian: bad shapes and parameters throw") {
  GaussianMoEParams p = params3();
  Tensor x = randn({4, 2}, kF64), y = randn({4}, kF64);
  GaussianMoEParams bad = p.clone();
  bad.sigma2 = tensor({0.1, 0.0, 0.3});
  CHECK_MOELAB_ERROR(gaussian_moe_log_likelihood(bad, GaussianGating::softmax(), x, y), "sigma2 must be > 0");
  bad.sigma2 = tensor({0.1, -1.0, 0.3});
  CHECK_MOELAB_ERROR(gaussian_moe_density(bad, GaussianGating::softmax(), x, y), "sigma2");
  CHECK_MOELAB_ERROR(gaussian_moe_gates(p, GaussianGating::topk(4), x), "top_k");
  CHECK_MOELAB_ERROR(gaussian_moe_gates(p, GaussianGating::topk(-1), x), "top_k");
  CHECK_MOELAB_ERROR(gaussian_moe_gates(p, GaussianGating::temperature(0.0), x), "tau");
  CHECK_MOELAB_ERROR(gaussian_moe_density(p, GaussianGating::softmax(), randn({4, 3}, kF64), y), "x must be");
  CHECK_MOELAB_ERROR(gaussian_moe_density(p, GaussianGating::softmax(), x, randn({5}, kF64)), "y must be");
  CHECK_MOELAB_ERROR(gaussian_moe_density(p, GaussianGating::softmax(), x.to(kF32), y), "dtype");
  bad = p.clone();
  bad.a = randn({3, 3}, kF64);
  CHECK_MOELAB_ERROR(gaussian_moe_density(bad, GaussianGating::softmax(), x, y), "a must be");
  bad = p.clone();
  bad.b = randn({2}, kF64);
  CHECK_MOELAB_ERROR(gaussian_moe_density(bad, GaussianGating::softmax(), x, y), "b must be");
  GaussianMoEFitOptions o;
  o.num_experts = 2;
  o.restarts = 0;
  CHECK_MOELAB_ERROR(fit_gaussian_moe_em(x, y, GaussianGating::softmax(), o), "needs an init");
  o.restarts = 1;
  o.num_experts = 2;
  CHECK_MOELAB_ERROR(fit_gaussian_moe_em(x, y, GaussianGating::topk(3), o), "top_k");
  o.init = p;
  CHECK_MOELAB_ERROR(fit_gaussian_moe_em(x, y, GaussianGating::softmax(), o), "init has k");
  CHECK_MOELAB_ERROR(voronoi_loss(p, truth2()), "d = ");
}

TEST_CASE("moe gaussian: density, log-likelihood and gradients match PyTorch (golden)") {
  const Golden& G = Golden::get("moe_gaussian");
  Tensor x = G["gmoe.x"], y = G["gmoe.y"];
  const std::vector<std::pair<std::string, GaussianGating>> cases = {
      {"top1", GaussianGating::topk(1)},
      {"top2", GaussianGating::topk(2)},
      {"dense", GaussianGating::softmax()},
      {"temp", GaussianGating::temperature(0.6)},
      {"tanh", GaussianGating::activation_gate(GateActivation::kTanh, 0.5)},
      {"sigmoid", GaussianGating::activation_gate(GateActivation::kSigmoid, 0.3)}};
  const char* names[] = {"beta1", "beta0", "a", "b", "sigma2"};
  for (const auto& [name, g] : cases) {
    INFO(name);
    std::vector<Tensor> v;
    for (const char* pn : names) v.push_back(G[std::string("gmoe.") + pn].clone().requires_grad_());
    GaussianMoEParams p{v[0], v[1], v[2], v[3], v[4]};
    check_close(gaussian_moe_density(p, g, x, y), G["gmoe." + name + ".density"], 1e-12, 1e-14);
    Tensor ll = gaussian_moe_log_likelihood(p, g, x, y);
    check_close(ll, G["gmoe." + name + ".loglik"], 1e-12, 1e-14);
    ll.backward();
    for (int i = 0; i < 5; ++i) check_close(v[i].grad(), G["gmoe." + name + ".d" + names[i]], 1e-10, 1e-12);
  }
}

TEST_CASE("moe gaussian: empty batches and non-contiguous inputs") {
  GaussianMoEParams p = params3();
  for (const GaussianGating& g : all_gates()) {
    Tensor d0 = gaussian_moe_density(p, g, zeros({0, 2}, kF64), zeros({0}, kF64));
    CHECK(d0.shape() == Shape{0});
    CHECK(gaussian_moe_gates(p, g, zeros({0, 2}, kF64)).shape() == Shape{0, 3});
    // x as a transposed view, y as a strided slice, parameters as views too.
    Tensor xt = randn({2, 5}, kF64), yt = randn({10}, kF64);
    Tensor x = xt.t(), y = yt.slice(0, 0, std::nullopt, 2);
    GaussianMoEParams v{p.beta1.t().contiguous().t(), p.beta0, p.a.t().contiguous().t(), p.b, p.sigma2};
    CHECK(!v.beta1.is_contiguous());
    check_close(gaussian_moe_density(v, g, x, y), gaussian_moe_density(p, g, x.contiguous(), y.contiguous()), 1e-14);
  }
  CHECK_MOELAB_ERROR(gaussian_moe_log_likelihood(p, GaussianGating::softmax(), zeros({0, 2}, kF64), zeros({0}, kF64)),
                     "n > 0");
}
