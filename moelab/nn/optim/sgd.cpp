#include "moelab/nn/optim/sgd.h"

#include "moelab/autograd/grad_mode.h"
#include "moelab/core/error.h"
#include "moelab/core/parallel.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"

namespace moelab::optim {
namespace {
ParamGroup sgd_defaults(const SGDOptions& o) {
  ParamGroup d;
  d.lr = o.lr;
  d.momentum = o.momentum;
  d.dampening = o.dampening;
  d.weight_decay = o.weight_decay;
  d.nesterov = o.nesterov;
  d.maximize = o.maximize;
  return d;
}
struct StepCoefs {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize;
};

// One parameter's update over [0, n). Restrict pointers and loop-invariant flags (the common
// momentum step has none set) let the compiler vectorise the loop.
template <class T>
void step_range(T* __restrict p, const T* __restrict g, T* __restrict buf, bool first, const StepCoefs& c,
                int64_t n) {
  const T lr = T(c.lr), m = T(c.momentum), damp = T(1 - c.dampening), wd = T(c.weight_decay);
  if (buf && !first && c.weight_decay == 0 && !c.nesterov && !c.maximize) {
    for (int64_t i = 0; i < n; ++i) {
      const T b = m * buf[i] + damp * g[i];
      buf[i] = b;
      p[i] -= lr * b;
    }
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    T d = c.maximize ? -g[i] : g[i];
    if (c.weight_decay != 0) d += wd * p[i];
    if (buf) {
      const T b = first ? d : m * buf[i] + damp * d;
      buf[i] = b;
      d = c.nesterov ? d + m * b : b;
    }
    p[i] -= lr * d;
  }
}

// The whole update of one parameter in one pass over p, its grad and its momentum buffer, for
// dense CPU f32/f64 tensors: the op-by-op form in step() reads and writes each tensor up to three
// times through temporaries. Same formula per element. Returns false (nothing done) for layouts
// it does not cover.
bool fused_step(const Tensor& p, const Tensor& grad, Tensor* buf, bool first, const ParamGroup& g) {
  if (p.device() != kCPU || !p.is_contiguous() || !grad.is_contiguous() || grad.dtype() != p.dtype() ||
      grad.shape() != p.shape() || (p.dtype() != kF32 && p.dtype() != kF64))
    return false;
  if (buf && !first && (!buf->is_contiguous() || buf->dtype() != p.dtype() || buf->shape() != p.shape()))
    return false;
  if (buf && first) *buf = empty_like(p);
  const StepCoefs c{*g.lr, *g.momentum, *g.dampening, *g.weight_decay, *g.nesterov, *g.maximize};
  visit_dtype<DTypes::Float>(p.dtype(), "SGD", [&]<class T>() {
    T* pp = p.data_ptr<T>();
    const T* pg = grad.data_ptr<T>();
    T* pb = buf ? buf->data_ptr<T>() : nullptr;
    parallel_for(0, p.numel(), 1 << 15, [&](int64_t begin, int64_t end) {
      step_range<T>(pp + begin, pg + begin, pb ? pb + begin : nullptr, first, c, end - begin);
    });
  });
  p.storage()->bump_version();
  if (buf) buf->storage()->bump_version();
  return true;
}

}  // namespace

SGD::SGD(std::vector<Tensor> params, SGDOptions options) : Optimizer("SGD", sgd_defaults(options)) {
  init({ParamGroup{.params = std::move(params)}});
}

SGD::SGD(std::vector<ParamGroup> groups, SGDOptions options) : Optimizer("SGD", sgd_defaults(options)) {
  init(std::move(groups));
}

void SGD::check_options(const ParamGroup& g, size_t index) const {
  MOELAB_CHECK(*g.lr >= 0, "SGD: invalid learning rate ", *g.lr, " in param group ", index);
  MOELAB_CHECK(*g.momentum >= 0, "SGD: invalid momentum ", *g.momentum, " in param group ", index);
  MOELAB_CHECK(*g.weight_decay >= 0, "SGD: invalid weight_decay ", *g.weight_decay, " in param group ", index);
  MOELAB_CHECK(!*g.nesterov || (*g.momentum > 0 && *g.dampening == 0), "SGD: Nesterov momentum requires a momentum",
               " and zero dampening (param group ", index, " has momentum ", *g.momentum, ", dampening ",
               *g.dampening, ")");
}

void SGD::step() {
  autograd::NoGradGuard no_grad;
  for (auto& g : param_groups()) {
    const double lr = *g.lr, momentum = *g.momentum, dampening = *g.dampening, wd = *g.weight_decay;
    for (Tensor p : g.params) {
      if (!p.grad().defined()) continue;
      if (momentum == 0) {
        if (fused_step(p, detail::checked_grad("SGD", p, false), nullptr, false, g)) continue;
      } else {
        ParamState& st = state(p);
        const bool first = !st.has("momentum_buffer");
        Tensor* buf = first ? &st.buffers["momentum_buffer"] : &st.at("momentum_buffer");
        if (fused_step(p, detail::checked_grad("SGD", p, false), buf, first, g)) continue;
        if (first) st.buffers.erase("momentum_buffer");
      }
      Tensor d_p = detail::checked_grad("SGD", p, *g.maximize);
      if (wd != 0) d_p = add(d_p, p, wd);
      if (momentum != 0) {
        ParamState& st = state(p);
        if (!st.has("momentum_buffer")) {
          st.buffers["momentum_buffer"] = d_p.clone();
        } else {
          Tensor& buf = st.at("momentum_buffer");
          add_(mul_(buf, detail::num(momentum, buf)), d_p, 1 - dampening);
        }
        Tensor& buf = st.at("momentum_buffer");
        d_p = *g.nesterov ? add(d_p, buf, momentum) : buf;
      }
      add_(p, d_p, -lr);
    }
  }
}

}  // namespace moelab::optim
