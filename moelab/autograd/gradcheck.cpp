#include "moelab/autograd/gradcheck.h"

#include <cmath>
#include <sstream>

#include "moelab/autograd/engine.h"
#include "moelab/autograd/grad_mode.h"

namespace moelab::autograd {
namespace {

// Deterministic values in [-1, 1] for the vector of the vector-Jacobian product.
Tensor probe_like(const Tensor& t, uint64_t seed) {
  Tensor v = make_empty(t.shape(), kF64, t.device().is_cpu() ? t.device() : kCPU);
  double* p = v.data_ptr<double>();
  uint64_t s = seed * 6364136223846793005ull + 1442695040888963407ull;
  for (int64_t i = 0; i < v.numel(); ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    p[i] = static_cast<double>(s >> 11) / static_cast<double>(1ull << 53) * 2.0 - 1.0;
  }
  v = v.to(t.dtype()).to(t.device());
  return v;
}

// Pointer to the element with logical (row-major) index i of a CPU floating tensor.
double read_elem(const Tensor& t, int64_t i, bool write, double value) {
  int64_t off = t.offset(), rest = i;
  for (int d = t.dim() - 1; d >= 0; --d) {
    off += (rest % t.size(d)) * t.stride(d);
    rest /= t.size(d);
  }
  return visit_dtype<DTypes::Float>(t.dtype(), "gradcheck", [&]<class T>() {
    T* p = static_cast<T*>(t.storage()->data()) + off;
    double old = static_cast<double>(*p);
    if (write) *p = static_cast<T>(value);
    return old;
  });
}

double dot(const std::vector<Tensor>& outs, const std::vector<Tensor>& probes) {
  double s = 0;
  for (size_t k = 0; k < outs.size(); ++k) {
    if (!outs[k].defined() || !is_floating(outs[k].dtype())) continue;
    std::vector<double> o = outs[k].to_vector<double>(), v = probes[k].to_vector<double>();
    for (size_t i = 0; i < o.size(); ++i) s += o[i] * v[i];
  }
  return s;
}

}  // namespace

bool gradcheck(const TensorFn& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& opts) {
  std::vector<Tensor> outs = fn(inputs);
  std::vector<Tensor> probes, diff_outs, diff_probes;
  for (size_t k = 0; k < outs.size(); ++k) {
    probes.push_back(outs[k].defined() && is_floating(outs[k].dtype()) ? probe_like(outs[k], 17 + k) : Tensor());
    if (outs[k].defined() && outs[k].requires_grad()) {
      diff_outs.push_back(outs[k]);
      diff_probes.push_back(probes[k]);
    }
  }
  std::vector<Tensor> wrt;
  std::vector<size_t> wrt_index;
  for (size_t j = 0; j < inputs.size(); ++j)
    if (inputs[j].defined() && inputs[j].requires_grad()) {
      MOELAB_CHECK(inputs[j].device().is_cpu(), "gradcheck: inputs must be on the CPU");
      wrt.push_back(inputs[j]);
      wrt_index.push_back(j);
    }
  MOELAB_CHECK(!wrt.empty(), "gradcheck: no input requires grad");
  std::vector<Tensor> analytical(wrt.size());
  if (!diff_outs.empty()) analytical = grad(diff_outs, wrt, diff_probes, false, false, /*allow_unused=*/true);

  NoGradGuard no_grad;
  for (size_t w = 0; w < wrt.size(); ++w) {
    const Tensor& x = wrt[w];
    std::vector<double> a = analytical[w].defined() ? analytical[w].to_vector<double>()
                                                    : std::vector<double>(static_cast<size_t>(x.numel()), 0.0);
    for (int64_t i = 0; i < x.numel(); ++i) {
      double x0 = read_elem(x, i, false, 0);
      read_elem(x, i, true, x0 + opts.eps);
      double fp = dot(fn(inputs), probes);
      read_elem(x, i, true, x0 - opts.eps);
      double fm = dot(fn(inputs), probes);
      read_elem(x, i, true, x0);
      double numerical = (fp - fm) / (2 * opts.eps);
      double analytic = a[static_cast<size_t>(i)];
      if (std::abs(numerical - analytic) > opts.atol + opts.rtol * std::abs(numerical)) {
        if (!opts.raise) return false;
        MOELAB_FAIL("gradcheck: the gradient for input ", wrt_index[w], " (shape ", x.shape(), ") differs at element ",
                    i, ": numerical ", numerical, ", analytical ", analytic);
      }
    }
  }
  return true;
}

bool gradgradcheck(const TensorFn& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& opts) {
  // The function checked is (inputs, probes) -> d<probes, fn(inputs)>/d(inputs), with create_graph.
  std::vector<Tensor> outs0 = fn(inputs);
  std::vector<size_t> diff_out_index;
  std::vector<Tensor> all = inputs;
  for (size_t k = 0; k < outs0.size(); ++k)
    if (outs0[k].defined() && outs0[k].requires_grad()) {
      diff_out_index.push_back(k);
      Tensor v = probe_like(outs0[k], 101 + k);
      v.requires_grad_(true);
      all.push_back(v);
    }
  const size_t n_in = inputs.size();
  TensorFn grad_fn = [&fn, n_in, diff_out_index](const std::vector<Tensor>& xs) {
    std::vector<Tensor> ins(xs.begin(), xs.begin() + static_cast<std::ptrdiff_t>(n_in));
    std::vector<Tensor> outs = fn(ins), diff_outs, probes;
    for (size_t k = 0; k < diff_out_index.size(); ++k) {
      diff_outs.push_back(outs[diff_out_index[k]]);
      probes.push_back(xs[n_in + k]);
    }
    std::vector<Tensor> wrt;
    for (const Tensor& x : ins)
      if (x.defined() && x.requires_grad()) wrt.push_back(x);
    if (!GradMode::is_enabled()) {
      // Numerical evaluation: the first-order gradient still needs the graph.
      EnableGradGuard enable;
      std::vector<Tensor> outs2 = fn(ins);
      std::vector<Tensor> d2;
      for (size_t k = 0; k < diff_out_index.size(); ++k) d2.push_back(outs2[diff_out_index[k]]);
      std::vector<Tensor> g = grad(d2, wrt, probes, false, false, true);
      for (Tensor& t : g) t = t.defined() ? t.detach() : t;
      return g;
    }
    return grad(diff_outs, wrt, probes, true, true, true);
  };
  return gradcheck(grad_fn, all, opts);
}

}  // namespace moelab::autograd
