#include "moelab/moe/swiglu.h"

#include "moelab/autograd/function.h"
#include "moelab/backends/elementwise_kernels.h"
#include "moelab/core/error.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/op_helpers.h"

namespace moelab::moe {
namespace {

void check_args(const Tensor& gate, const Tensor& up) {
  MOELAB_CHECK(gate.defined() && up.defined(), "swiglu: gate and up must be defined");
  MOELAB_CHECK(gate.shape() == up.shape(), "swiglu: gate of shape ", gate.shape(), " and up of shape ", up.shape(),
               " must have one shape");
  MOELAB_CHECK(gate.dtype() == up.dtype(), "swiglu: gate and up must have one dtype, got ", gate.dtype(), " and ",
               up.dtype());
  MOELAB_CHECK(gate.dtype() == kF32 || gate.dtype() == kF64, "swiglu: gate and up must be f32 or f64, got ",
               gate.dtype());
  MOELAB_CHECK(gate.device().is_cpu() && up.device().is_cpu(), "swiglu: gate and up must be on the CPU, got ",
               gate.device(), " and ", up.device());
}

Tensor forward(const Tensor& gate_in, const Tensor& up_in) {
  const Tensor a = gate_in.contiguous(), b = up_in.contiguous();
  Tensor out = make_empty(a.shape(), a.dtype());
  moelab::detail::backend_of(out).elementwise().swiglu(out, a, b);
  return out;
}

// Fused backward (no graph): both gradients from one pass. d gate is written over the incoming
// gradient when nothing else can see that buffer (the engine hands over a gradient it no longer
// needs; AccumulateGrad takes gradients on the same condition): one [N, f] buffer less at the
// backward's peak.
std::vector<Tensor> backward_fused(const Tensor& g_in, const Tensor& a_in, const Tensor& b_in, bool want_a,
                                   bool want_b) {
  const bool take_g = want_a && g_in.impl()->use_count() == 1 && g_in.storage()->use_count() == 1 &&
                      g_in.is_contiguous() && !g_in.requires_grad() && g_in.dtype() == a_in.dtype();
  const Tensor a = a_in.contiguous(), b = b_in.contiguous();
  const Tensor g = g_in.to(a.dtype()).contiguous();
  Tensor ga = want_a ? (take_g ? g : make_empty(a.shape(), a.dtype())) : Tensor();
  Tensor gb = want_b ? make_empty(a.shape(), a.dtype()) : Tensor();
  moelab::detail::backend_of(a).elementwise().swiglu_backward(ga, gb, g, a, b);
  return {ga, gb};
}

}  // namespace

Tensor swiglu(const Tensor& gate, const Tensor& up) {
  check_args(gate, up);
  Tensor out;
  {
    autograd::NoGradGuard no_grad;
    out = forward(gate, up);
  }
  if (autograd::needs_grad({&gate, &up}))
    autograd::record_op(
        "swiglu", {&gate, &up}, {&out}, {autograd::SavedVariable(gate, false), autograd::SavedVariable(up, false)},
        [](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
          const bool want_a = c.needs_input_grad(0), want_b = c.needs_input_grad(1);
          const Tensor a = c.saved(0), b = c.saved(1);
          if (!autograd::GradMode::is_enabled()) return backward_fused(g[0], a, b, want_a, want_b);
          // create_graph: the same formulas from differentiable ops.
          const Tensor s = sigmoid(a);
          Tensor ga, gb;
          if (want_a) ga = g[0] * b * s * (1.0 + a * (1.0 - s));
          if (want_b) gb = g[0] * (a * s);
          return std::vector<Tensor>{ga, gb};
        });
  return out;
}

}  // namespace moelab::moe
