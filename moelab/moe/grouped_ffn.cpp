#include "moelab/moe/grouped_ffn.h"

#include <algorithm>

#include "moelab/autograd/function.h"
#include "moelab/backends/elementwise_kernels.h"
#include "moelab/backends/linalg_kernels.h"
#include "moelab/core/error.h"
#include "moelab/moe/grouped_gemm.h"
#include "moelab/moe/swiglu.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/op_helpers.h"

namespace moelab::moe {
namespace {

constexpr const char* kOp = "grouped_swiglu_ffn";

// out = a @ b + beta * out through the backend's GEMM; a, b and out are 2-D views of the buffers
// (a transposed view goes to BLAS as a trans flag, no copy), beta = 1 accumulates into out.
void gemm(const Tensor& out, const Tensor& a, const Tensor& b, double beta = 0.0) {
  moelab::detail::backend_of(out).linalg().gemm(out, a, b, 1.0, beta);
}

void check_w(const Tensor& w, const char* name, int64_t E, int64_t din, int64_t dout, DType dt) {
  MOELAB_CHECK(w.defined() && w.dim() == 3, kOp, ": ", name, " must be [E, ", din, ", ", dout, "], got ",
               w.defined() ? w.shape() : Shape{});
  MOELAB_CHECK(w.dtype() == dt, kOp, ": ", name, " has dtype ", w.dtype(), ", xs has ", dt);
  MOELAB_CHECK(w.device().is_cpu(), kOp, ": ", name, " must be on the CPU, got ", w.device());
  MOELAB_CHECK(w.size(0) == E && w.size(1) == din && w.size(2) == dout, kOp, ": ", name, " must be [E = ", E, ", ",
               din, ", ", dout, "], got ", w.shape());
}

int64_t max_rows(const std::vector<int64_t>& offs) {
  int64_t m = 0;
  for (size_t e = 0; e + 1 < offs.size(); ++e) m = std::max(m, offs[e + 1] - offs[e]);
  return m;
}

// y_e = swiglu(a1_e, a3_e) w2[e], expert by expert through one [rows of one expert, f] buffer (h is
// never materialised whole).
Tensor forward_down(const Tensor& a1, const Tensor& a3, const Tensor& w2, const std::vector<int64_t>& offs) {
  const int64_t N = a1.size(0), f = a1.size(1), d = w2.size(2), E = w2.size(0);
  Tensor y = make_empty({N, d}, a1.dtype()), buf = make_empty({max_rows(offs), f}, a1.dtype());
  ElementwiseKernels& k = moelab::detail::backend_of(a1).elementwise();
  for (int64_t e = 0; e < E; ++e) {
    const int64_t r0 = offs[size_t(e)], n = offs[size_t(e + 1)] - r0;
    const Tensor h = buf.narrow(0, 0, n);
    k.swiglu(h, a1.narrow(0, r0, n), a3.narrow(0, r0, n));
    gemm(y.narrow(0, r0, n), h, w2.select(0, e));
  }
  return y;
}

// The no-graph backward, expert by expert. Returns {gxs, gw1, gw3, gw2}.
std::vector<Tensor> backward_by_expert(const Tensor& g_in, const Tensor& xs, const Tensor& w1, const Tensor& w3,
                                       const Tensor& w2, const Tensor& a1, const Tensor& a3,
                                       const std::vector<int64_t>& offs) {
  const Tensor g = g_in.contiguous();
  const int64_t N = xs.size(0), d = xs.size(1), f = w1.size(2), E = w1.size(0);
  Tensor gxs = make_empty({N, d}, xs.dtype()), gw1 = make_empty({E, d, f}, xs.dtype());
  Tensor gw3 = make_empty({E, d, f}, xs.dtype()), gw2 = make_empty({E, f, d}, xs.dtype());
  const int64_t rows = max_rows(offs);
  Tensor buf_h = make_empty({rows, f}, xs.dtype()), buf_g = make_empty({rows, f}, xs.dtype());
  ElementwiseKernels& k = moelab::detail::backend_of(xs).elementwise();
  for (int64_t e = 0; e < E; ++e) {
    const int64_t r0 = offs[size_t(e)], n = offs[size_t(e + 1)] - r0;
    const Tensor a1e = a1.narrow(0, r0, n), a3e = a3.narrow(0, r0, n);
    const Tensor xe = xs.narrow(0, r0, n), ge = g.narrow(0, r0, n), gxe = gxs.narrow(0, r0, n);
    const Tensor he = buf_h.narrow(0, 0, n), ghe = buf_g.narrow(0, 0, n);
    k.swiglu(he, a1e, a3e);                                          // h_e
    gemm(gw2.select(0, e), he.transpose(0, 1), ge);                  // gw2[e] = h_e^T g_e
    gemm(ghe, ge, w2.select(0, e).transpose(0, 1));                  // gh_e = g_e w2[e]^T
    k.swiglu_backward(ghe, he, ghe, a1e, a3e);                       // gh <- d a1_e, h <- d a3_e
    gemm(gw1.select(0, e), xe.transpose(0, 1), ghe);                 // gw1[e] = x_e^T d a1_e
    gemm(gw3.select(0, e), xe.transpose(0, 1), he);                  // gw3[e] = x_e^T d a3_e
    gemm(gxe, ghe, w1.select(0, e).transpose(0, 1));                 // gxs_e = d a1_e w1[e]^T
    gemm(gxe, he, w3.select(0, e).transpose(0, 1), 1.0);             //      + d a3_e w3[e]^T
  }
  return {gxs, gw1, gw3, gw2};
}

}  // namespace

Tensor grouped_swiglu_ffn(const Tensor& xs, const Tensor& w1, const Tensor& w3, const Tensor& w2,
                          const std::vector<int64_t>& offsets) {
  MOELAB_CHECK(xs.defined() && xs.dim() == 2, kOp, ": xs must be [N, d], got ", xs.defined() ? xs.shape() : Shape{});
  MOELAB_CHECK(xs.dtype() == kF32 || xs.dtype() == kF64, kOp, ": xs must be f32 or f64, got ", xs.dtype());
  MOELAB_CHECK(xs.device().is_cpu(), kOp, ": xs must be on the CPU, got ", xs.device());
  MOELAB_CHECK(w1.defined() && w1.dim() == 3, kOp, ": w1 must be [E, d, f], got ", w1.defined() ? w1.shape() : Shape{});
  const int64_t E = w1.size(0), d = xs.size(1), f = w1.size(2);
  check_w(w1, "w1", E, d, f, xs.dtype());
  check_w(w3, "w3", E, d, f, xs.dtype());
  check_w(w2, "w2", E, f, d, xs.dtype());
  // grouped_matmul checks the offsets (E + 1 entries, from 0, non-decreasing, ending at N).
  Tensor a1, a3, y;
  {
    autograd::NoGradGuard no_grad;
    a1 = grouped_matmul(xs, w1, offsets);
    a3 = grouped_matmul(xs, w3, offsets);
    y = forward_down(a1, a3, w2.contiguous(), offsets);
  }
  if (autograd::needs_grad({&xs, &w1, &w3, &w2}))
    autograd::record_op(
        kOp, {&xs, &w1, &w3, &w2}, {&y},
        {autograd::SavedVariable(xs, false), autograd::SavedVariable(w1, false), autograd::SavedVariable(w3, false),
         autograd::SavedVariable(w2, false), autograd::SavedVariable(a1, false), autograd::SavedVariable(a3, false)},
        [offsets](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
          const Tensor x = c.saved(0), W1 = c.saved(1), W3 = c.saved(2), W2 = c.saved(3);
          if (!autograd::GradMode::is_enabled())
            return backward_by_expert(g[0], x.contiguous(), W1.contiguous(), W3.contiguous(), W2.contiguous(),
                                      c.saved(4), c.saved(5), offsets);
          // create_graph: the composition's backward from differentiable ops (a1, a3 recomputed
          // from the inputs so that their history is part of the graph).
          const Tensor A1 = grouped_matmul(x, W1, offsets), A3 = grouped_matmul(x, W3, offsets);
          const Tensor gw2 = grouped_matmul_tn(swiglu(A1, A3), g[0], offsets);
          const Tensor gh = grouped_matmul(g[0], W2.transpose(1, 2), offsets);
          const Tensor s = sigmoid(A1);
          const Tensor ga = gh * A3 * s * (1.0 + A1 * (1.0 - s)), gb = gh * (A1 * s);
          const Tensor gx = grouped_matmul(ga, W1.transpose(1, 2), offsets) + grouped_matmul(gb, W3.transpose(1, 2), offsets);
          return std::vector<Tensor>{gx, grouped_matmul_tn(x, ga, offsets), grouped_matmul_tn(x, gb, offsets), gw2};
        });
  return y;
}

}  // namespace moelab::moe
