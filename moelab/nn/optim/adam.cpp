#include "moelab/nn/optim/adam.h"

#include <cmath>

#include "moelab/autograd/grad_mode.h"
#include "moelab/core/error.h"
#include "moelab/core/parallel.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"

namespace moelab::optim {
namespace {
template <class O>
ParamGroup adam_defaults(const O& o) {
  ParamGroup d;
  d.lr = o.lr;
  d.betas = o.betas;
  d.eps = o.eps;
  d.weight_decay = o.weight_decay;
  d.amsgrad = o.amsgrad;
  d.maximize = o.maximize;
  return d;
}

struct AdamCoefs {
  double lr, beta1, beta2, eps, weight_decay, step_size, bias_correction2_sqrt;
  bool decoupled, amsgrad, maximize;
};

// One parameter's update over [0, n), element by element in the order of the op-by-op form.
template <class T>
void adam_range(T* __restrict p, const T* __restrict grad, T* __restrict m, T* __restrict v, T* __restrict vmax,
                const AdamCoefs& c, int64_t n) {
  const T b1 = T(c.beta1), b2 = T(c.beta2), one_b1 = T(1 - c.beta1), one_b2 = T(1 - c.beta2);
  const T decay = T(1 - c.lr * c.weight_decay), wd = T(c.weight_decay), eps = T(c.eps);
  const T bc2 = T(c.bias_correction2_sqrt), neg_step = T(-c.step_size);
  const bool decoupled_decay = c.decoupled, coupled_decay = !c.decoupled && c.weight_decay != 0;
  for (int64_t i = 0; i < n; ++i) {
    T g = c.maximize ? -grad[i] : grad[i];
    if (decoupled_decay) p[i] *= decay;
    if (coupled_decay) g += wd * p[i];
    const T mi = m[i] * b1 + one_b1 * g;
    const T vi = v[i] * b2 + one_b2 * (g * g);
    m[i] = mi;
    v[i] = vi;
    T denom_base = vi;
    if (c.amsgrad) {
      denom_base = vmax[i] < vi ? vi : vmax[i];
      vmax[i] = denom_base;
    }
    p[i] += neg_step * (mi / (std::sqrt(denom_base) / bc2 + eps));
  }
}

// The whole update of one parameter in one pass, for dense CPU f32/f64 tensors (the op-by-op form
// in step() makes about ten passes through temporaries). False when the layout is not covered.
bool fused_adam_step(const Tensor& p, const Tensor& grad, Tensor& m, Tensor& v, Tensor* vmax, const AdamCoefs& c) {
  auto same = [&](const Tensor& t) {
    return t.device() == kCPU && t.is_contiguous() && t.dtype() == p.dtype() && t.shape() == p.shape();
  };
  if (!same(p) || !same(grad) || !same(m) || !same(v) || (vmax && !same(*vmax)) ||
      (p.dtype() != kF32 && p.dtype() != kF64))
    return false;
  visit_dtype<DTypes::Float>(p.dtype(), "Adam", [&]<class T>() {
    T *pp = p.data_ptr<T>(), *pm = m.data_ptr<T>(), *pv = v.data_ptr<T>();
    T* pvmax = vmax ? vmax->data_ptr<T>() : nullptr;
    const T* pg = grad.data_ptr<T>();
    parallel_for(0, p.numel(), 1 << 14, [&](int64_t b, int64_t e) {
      adam_range<T>(pp + b, pg + b, pm + b, pv + b, pvmax ? pvmax + b : nullptr, c, e - b);
    });
  });
  for (const Tensor* t : std::initializer_list<const Tensor*>{&p, &m, &v}) t->storage()->bump_version();
  if (vmax) vmax->storage()->bump_version();
  return true;
}
}  // namespace

Adam::Adam(std::string name, ParamGroup defaults, bool decoupled)
    : Optimizer(std::move(name), std::move(defaults)), decoupled_(decoupled) {}

Adam::Adam(std::vector<Tensor> params, AdamOptions options) : Adam("Adam", adam_defaults(options), false) {
  init({ParamGroup{.params = std::move(params)}});
}

Adam::Adam(std::vector<ParamGroup> groups, AdamOptions options) : Adam("Adam", adam_defaults(options), false) {
  init(std::move(groups));
}

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions options) : Adam("AdamW", adam_defaults(options), true) {
  init({ParamGroup{.params = std::move(params)}});
}

AdamW::AdamW(std::vector<ParamGroup> groups, AdamWOptions options) : Adam("AdamW", adam_defaults(options), true) {
  init(std::move(groups));
}

void Adam::check_options(const ParamGroup& g, size_t index) const {
  const auto [b1, b2] = *g.betas;
  MOELAB_CHECK(*g.lr >= 0, name(), ": invalid learning rate ", *g.lr, " in param group ", index);
  MOELAB_CHECK(*g.eps >= 0, name(), ": invalid epsilon ", *g.eps, " in param group ", index);
  MOELAB_CHECK(b1 >= 0 && b1 < 1, name(), ": invalid beta parameter at index 0: ", b1, " (must be in [0, 1))",
               " in param group ", index);
  MOELAB_CHECK(b2 >= 0 && b2 < 1, name(), ": invalid beta parameter at index 1: ", b2, " (must be in [0, 1))",
               " in param group ", index);
  MOELAB_CHECK(*g.weight_decay >= 0, name(), ": invalid weight_decay ", *g.weight_decay, " in param group ", index);
}

void Adam::step() {
  using detail::num;
  autograd::NoGradGuard no_grad;
  for (auto& g : param_groups()) {
    const double lr = *g.lr, eps = *g.eps, wd = *g.weight_decay;
    const auto [beta1, beta2] = *g.betas;
    const bool amsgrad = *g.amsgrad;
    for (Tensor p : g.params) {
      if (!p.grad().defined()) continue;
      ParamState& st = state(p);
      if (!st.has("exp_avg")) {
        st.step = 0;
        st.buffers["exp_avg"] = zeros_like(p);
        st.buffers["exp_avg_sq"] = zeros_like(p);
        if (amsgrad) st.buffers["max_exp_avg_sq"] = zeros_like(p);
      }
      if (amsgrad && !st.has("max_exp_avg_sq")) st.buffers["max_exp_avg_sq"] = zeros_like(p);  // turned on later
      st.step += 1;
      {
        const double t = static_cast<double>(st.step);
        const AdamCoefs c{lr, beta1, beta2, eps, wd, lr / (1 - std::pow(beta1, t)),
                          std::sqrt(1 - std::pow(beta2, t)), decoupled_, amsgrad, *g.maximize};
        Tensor raw_grad = detail::checked_grad(name(), p, false);
        if (fused_adam_step(p, raw_grad, st.at("exp_avg"), st.at("exp_avg_sq"),
                            amsgrad ? &st.at("max_exp_avg_sq") : nullptr, c))
          continue;
      }
      Tensor grad = detail::checked_grad(name(), p, *g.maximize);
      if (decoupled_)
        mul_(p, num(1 - lr * wd, p));
      else if (wd != 0)
        grad = add(grad, p, wd);
      Tensor& exp_avg = st.at("exp_avg");
      Tensor& exp_avg_sq = st.at("exp_avg_sq");
      add_(mul_(exp_avg, num(beta1, p)), grad, 1 - beta1);
      add_(mul_(exp_avg_sq, num(beta2, p)), grad * grad, 1 - beta2);
      const double t = static_cast<double>(st.step);
      const double bias_correction1 = 1 - std::pow(beta1, t);
      const double bias_correction2 = 1 - std::pow(beta2, t);
      const double step_size = lr / bias_correction1;
      const double bias_correction2_sqrt = std::sqrt(bias_correction2);
      Tensor denom;
      if (amsgrad) {
        Tensor& max_sq = st.at("max_exp_avg_sq");
        max_sq.copy_(maximum(max_sq, exp_avg_sq));
        denom = sqrt(max_sq) / bias_correction2_sqrt + eps;
      } else {
        denom = sqrt(exp_avg_sq) / bias_correction2_sqrt + eps;
      }
      add_(p, exp_avg / denom, -step_size);
    }
  }
}

}  // namespace moelab::optim
