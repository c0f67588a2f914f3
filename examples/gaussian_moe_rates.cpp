// Convergence rates of maximum likelihood (EM) in Gaussian mixtures of experts, as in the
// simulations of Nguyen, Nguyen, Ho et al. (softmax / top-K sparse softmax gating MoE papers):
// fit over a grid of sample sizes n, print the density error (Hellinger, total variation) and the
// Voronoi loss vs n, and the least-squares slopes of log(error) vs log(n). The parametric rate
// n^{-1/2} shows as a slope near -0.5 for the density and the exactly-specified Voronoi loss.
//
//   ./build/examples/gaussian_moe_rates [seeds=2]
#include <moelab/moelab.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace moelab;
using namespace moelab::moe;

namespace {

GaussianMoEParams make(std::vector<double> beta1, std::vector<double> beta0, std::vector<double> a,
                       std::vector<double> b, std::vector<double> s2) {
  const int64_t k = static_cast<int64_t>(beta0.size());
  const int64_t d = static_cast<int64_t>(beta1.size()) / k;
  return {from_vector(beta1, {k, d}), from_vector(beta0, {k}), from_vector(a, {k, d}), from_vector(b, {k}),
          from_vector(s2, {k})};
}

// Perturb every parameter by N(0, scale^2) (sigma2 multiplicatively, so it stays positive).
GaussianMoEParams perturb(const GaussianMoEParams& p, double scale, Generator& gen) {
  GaussianMoEParams q = p.clone();
  q.beta1 = q.beta1 + randn(q.beta1.shape(), kF64, &gen) * scale;
  q.beta0 = q.beta0 + randn(q.beta0.shape(), kF64, &gen) * scale;
  q.a = q.a + randn(q.a.shape(), kF64, &gen) * scale;
  q.b = q.b + randn(q.b.shape(), kF64, &gen) * scale;
  q.sigma2 = q.sigma2 * exp(randn(q.sigma2.shape(), kF64, &gen) * scale);
  return q;
}

// Over-specified start: atom 0 of p split in two (each with half its gate mass).
GaussianMoEParams split_first(const GaussianMoEParams& p) {
  auto dup = [](const Tensor& t) { return cat({t.narrow(0, 0, 1), t}, 0); };
  GaussianMoEParams q{dup(p.beta1), dup(p.beta0), dup(p.a), dup(p.b), dup(p.sigma2)};
  q.beta0 = q.beta0 - cat({full({2}, std::log(2.0), kF64), zeros({p.num_experts() - 1}, kF64)}, 0);
  return q;
}

double slope(const std::vector<double>& n, const std::vector<double>& e) {
  double mx = 0, my = 0;
  for (size_t i = 0; i < n.size(); ++i) mx += std::log(n[i]), my += std::log(e[i]);
  mx /= n.size(), my /= n.size();
  double sxy = 0, sxx = 0;
  for (size_t i = 0; i < n.size(); ++i) {
    sxy += (std::log(n[i]) - mx) * (std::log(e[i]) - my);
    sxx += (std::log(n[i]) - mx) * (std::log(n[i]) - mx);
  }
  return sxy / sxx;
}

struct Setting {
  std::string name;
  GaussianMoEParams truth;
  GaussianGating gate_true, gate_fit;
  int64_t k_fit;
  bool over;
};

}  // namespace

int main(int argc, char** argv) {
  const int seeds = argc > 1 ? std::atoi(argv[1]) : 2;
  set_num_threads(1);
  const auto t0 = std::chrono::steady_clock::now();
  // k* = 2 experts in d = 1, x ~ U[-1, 1]^d, dense softmax gate (last expert's gate = 0).
  GaussianMoEParams truth2 = make({2.0, 0.0}, {0.5, 0.0}, {1.5, -1.0}, {0.5, -0.5}, {0.09, 0.16});
  std::vector<Setting> settings = {
      {"softmax k*=2, exact k=2", truth2, GaussianGating::softmax(), GaussianGating::softmax(), 2, false},
      {"softmax k*=2, over k=3", truth2, GaussianGating::softmax(), GaussianGating::softmax(), 3, true},
      {"temperature tau=0.5, k*=2, exact k=2", truth2, GaussianGating::temperature(0.5),
       GaussianGating::temperature(0.5), 2, false},
  };
  const std::vector<double> log10n = {2.5, 3.0, 3.5, 4.0, 4.5};
  Generator xgen(12345);
  Tensor xeval = sample_covariates(400, 1, CovariateDist::kUniform, xgen);

  for (const Setting& s : settings) {
    std::printf("\n== %s ==\n%8s %12s %12s %12s %8s\n", s.name.c_str(), "n", "hellinger", "tv", "voronoi",
                "iters");
    std::vector<double> ns, hel, tv, vor;
    for (double l : log10n) {
      const auto n = static_cast<int64_t>(std::llround(std::pow(10.0, l)));
      double h = 0, t = 0, v = 0, it = 0;
      for (int seed = 0; seed < seeds; ++seed) {
        Generator gen(1000 * seed + static_cast<uint64_t>(n));
        GaussianMoESample data = sample_gaussian_moe(s.truth, s.gate_true, n, CovariateDist::kUniform, gen);
        GaussianMoEFitOptions o;
        o.num_experts = s.k_fit;
        o.restarts = 0;
        o.max_iters = s.over ? 150 : 100;
        o.tol = 1e-9;
        o.seed = static_cast<uint64_t>(seed);
        GaussianMoEParams start = s.over ? split_first(s.truth) : s.truth;
        o.init = perturb(start, 0.1, gen);
        GaussianMoEFit fit = fit_gaussian_moe_em(data.x, data.y, s.gate_fit, o);
        DensityDistance dd = gaussian_moe_density_distance(fit.params, s.gate_fit, s.truth, s.gate_true, xeval, 400);
        h += dd.hellinger / seeds;
        t += dd.total_variation / seeds;
        v += voronoi_loss(fit.params, s.truth) / seeds;
        it += double(fit.iterations) / seeds;
      }
      std::printf("%8lld %12.4e %12.4e %12.4e %8.0f\n", static_cast<long long>(n), h, t, v, it);
      ns.push_back(double(n)), hel.push_back(h), tv.push_back(t), vor.push_back(v);
    }
    std::printf("log-log slopes: hellinger %.3f, tv %.3f, voronoi %.3f\n", slope(ns, hel), slope(ns, tv),
                slope(ns, vor));
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("\n%d seeds per n, total %.1f s\n", seeds, secs);
  return 0;
}
