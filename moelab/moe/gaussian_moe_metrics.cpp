// Voronoi loss and density distances for Gaussian MoE (declared in gaussian_moe.h).
#include <algorithm>
#include <cmath>
#include <vector>

#include "moelab/autograd/grad_mode.h"
#include "moelab/core/error.h"
#include "moelab/moe/gaussian_moe.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/linalg.h"
#include "moelab/ops/reduce.h"
#include "moelab/ops/shape_ops.h"

namespace moelab::moe {
namespace {

// Parameters as plain vectors (k and k* are small: a few atoms).
struct Atoms {
  int64_t k = 0, d = 0;
  std::vector<double> beta1, beta0, a, b, sigma2;
};

Atoms atoms_of(const GaussianMoEParams& p) {
  auto v = [](const Tensor& t) { return t.detach().to(kF64).contiguous().to_vector<double>(); };
  return {p.num_experts(), p.dim(), v(p.beta1), v(p.beta0), v(p.a), v(p.b), v(p.sigma2)};
}

// Squared distance of atom i of f to atom j of t in (beta1, a, b, sigma2), or in (a, b, sigma2).
double dist2(const Atoms& f, int64_t i, const Atoms& t, int64_t j, bool with_gate) {
  double s = 0;
  for (int64_t c = 0; c < f.d; ++c) {
    const double da = f.a[i * f.d + c] - t.a[j * t.d + c];
    s += da * da;
    if (with_gate) {
      const double db = f.beta1[i * f.d + c] - t.beta1[j * t.d + c];
      s += db * db;
    }
  }
  const double db = f.b[i] - t.b[j], ds = f.sigma2[i] - t.sigma2[j];
  return s + db * db + ds * ds;
}

std::vector<int64_t> cells(const Atoms& f, const Atoms& t, bool with_gate) {
  std::vector<int64_t> cell(f.k);
  for (int64_t i = 0; i < f.k; ++i) {
    int64_t best = 0;
    double bd = dist2(f, i, t, 0, with_gate);
    for (int64_t j = 1; j < t.k; ++j) {
      const double dj = dist2(f, i, t, j, with_gate);
      if (dj < bd) bd = dj, best = j;  // strict: ties go to the lowest j
    }
    cell[i] = best;
  }
  return cell;
}

// Translate f's gate by (t0, t1): beta0 -= t0, beta1 -= t1.
Atoms translated(const Atoms& f, double t0, const std::vector<double>& t1) {
  Atoms g = f;
  for (int64_t i = 0; i < f.k; ++i) {
    g.beta0[i] -= t0;
    for (int64_t c = 0; c < f.d; ++c) g.beta1[i * f.d + c] -= t1[c];
  }
  return g;
}

}  // namespace

double voronoi_loss(const GaussianMoEParams& fitted, const GaussianMoEParams& truth, double over_exponent) {
  check_gaussian_moe(fitted, GaussianGating{}, "voronoi_loss(fitted)");
  check_gaussian_moe(truth, GaussianGating{}, "voronoi_loss(truth)");
  MOELAB_CHECK(fitted.dim() == truth.dim(), "voronoi_loss: fitted has d = ", fitted.dim(), ", truth has d = ",
               truth.dim());
  MOELAB_CHECK(over_exponent > 0, "voronoi_loss: over_exponent must be positive, got ", over_exponent);
  const Atoms f0 = atoms_of(fitted);
  Atoms t = atoms_of(truth);
  const int64_t d = t.d, last = t.k - 1;
  // Truth: the papers' convention beta*_{k*} = 0 (last expert's gate parameters subtracted).
  {
    std::vector<double> t1(t.beta1.begin() + last * d, t.beta1.begin() + (last + 1) * d);
    t = translated(t, t.beta0[last], t1);
  }
  // Fitted: fixed point of (cells, translation), starting from cells of the experts alone.
  std::vector<int64_t> cell = cells(f0, t, /*with_gate=*/false);
  Atoms f = f0;
  for (int iter = 0; iter < 20; ++iter) {
    double mass = 0;
    std::vector<double> m1(d, 0.0);
    for (int64_t i = 0; i < f0.k; ++i) {
      if (cell[i] != last) continue;
      const double w = std::exp(f0.beta0[i]);
      mass += w;
      for (int64_t c = 0; c < d; ++c) m1[c] += w * f0.beta1[i * d + c];
    }
    if (mass > 0) {
      for (double& v : m1) v /= mass;
      f = translated(f0, std::log(mass), m1);
    } else {
      // No fitted atom in the last cell: use the fitted atom closest to it in (a, b, sigma2).
      int64_t best = 0;
      for (int64_t i = 1; i < f0.k; ++i)
        if (dist2(f0, i, t, last, false) < dist2(f0, best, t, last, false)) best = i;
      std::vector<double> t1(f0.beta1.begin() + best * d, f0.beta1.begin() + (best + 1) * d);
      f = translated(f0, f0.beta0[best], t1);
    }
    std::vector<int64_t> next = cells(f, t, /*with_gate=*/true);
    if (next == cell) break;
    cell = std::move(next);
  }
  std::vector<int64_t> count(t.k, 0);
  std::vector<double> mass(t.k, 0.0);
  for (int64_t i = 0; i < f.k; ++i) {
    ++count[cell[i]];
    mass[cell[i]] += std::exp(f.beta0[i]);
  }
  double loss = 0;
  for (int64_t j = 0; j < t.k; ++j) loss += std::abs(mass[j] - std::exp(t.beta0[j]));
  for (int64_t i = 0; i < f.k; ++i) {
    const int64_t j = cell[i];
    const double r = count[j] == 1 ? 1.0 : over_exponent;
    double n1 = 0, na = 0;
    for (int64_t c = 0; c < d; ++c) {
      n1 += std::pow(f.beta1[i * d + c] - t.beta1[j * d + c], 2);
      na += std::pow(f.a[i * d + c] - t.a[j * d + c], 2);
    }
    const double term = std::pow(std::sqrt(n1), r) + std::pow(std::sqrt(na), r) + std::pow(std::abs(f.b[i] - t.b[j]), r) +
                        std::pow(std::abs(f.sigma2[i] - t.sigma2[j]), r);
    loss += std::exp(f.beta0[i]) * term;
  }
  return loss;
}

DensityDistance gaussian_moe_density_distance(const GaussianMoEParams& p, const GaussianGating& gp,
                                              const GaussianMoEParams& q, const GaussianGating& gq,
                                              const Tensor& x, int64_t num_y) {
  check_gaussian_moe(p, gp, "gaussian_moe_density_distance(p)");
  check_gaussian_moe(q, gq, "gaussian_moe_density_distance(q)");
  MOELAB_CHECK(num_y >= 3, "gaussian_moe_density_distance: num_y must be >= 3, got ", num_y);
  MOELAB_CHECK(x.defined() && x.dim() == 2 && x.size(0) > 0 && x.size(1) == p.dim() && q.dim() == p.dim(),
               "gaussian_moe_density_distance: x must be [m > 0, d = ", p.dim(), "] (q has d = ", q.dim(),
               "), got shape ", x.defined() ? x.shape() : Shape{});
  NoGradGuard ng;
  const DType dt = p.beta1.dtype();
  Tensor xd = x.to(dt).contiguous();
  const int64_t m = xd.size(0);
  double lo = 0, hi = 0;
  {
    Tensor mp = linear(xd, p.a, p.b), mq = linear(xd, q.a.to(dt), q.b.to(dt));
    const double sd = std::sqrt(std::max(max(p.sigma2).item<double>(), max(q.sigma2).item<double>()));
    lo = std::min(min(mp).item<double>(), min(mq).item<double>()) - 10 * sd;
    hi = std::max(max(mp).item<double>(), max(mq).item<double>()) + 10 * sd;
  }
  Tensor ygrid = linspace(lo, hi, num_y, dt);
  Tensor xs = repeat_interleave(xd, num_y, 0);  // [m * G, d]
  Tensor ys = repeat(ygrid, {m});              // [m * G]
  GaussianMoEParams qd{q.beta1.to(dt), q.beta0.to(dt), q.a.to(dt), q.b.to(dt), q.sigma2.to(dt)};
  Tensor dp = gaussian_moe_density(p, gp, xs, ys).view({m, num_y});
  Tensor dq = gaussian_moe_density(qd, gq, xs, ys).view({m, num_y});
  const double h = (hi - lo) / double(num_y - 1);
  auto trapz = [&](const Tensor& f) {  // [m, G] -> mean over rows of the trapezoid integral
    Tensor s = sum(f, {1}) - (f.select(1, 0) + f.select(1, num_y - 1)) * 0.5;
    return mean(s).item<double>() * h;
  };
  DensityDistance out;
  out.total_variation = 0.5 * trapz(abs(dp - dq));
  // Hellinger per x, then averaged.
  Tensor hf = square(sqrt(dp) - sqrt(dq));
  Tensor hs = (sum(hf, {1}) - (hf.select(1, 0) + hf.select(1, num_y - 1)) * 0.5) * (0.5 * h);
  out.hellinger = mean(sqrt(clamp(hs, 0.0, std::nullopt))).item<double>();
  return out;
}

}  // namespace moelab::moe
