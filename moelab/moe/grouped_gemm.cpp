// Grouped GEMM: argument checks and autograd here; the GEMMs themselves are the backend's
// LinalgKernels::grouped_gemm / grouped_gemm_tn primitives (on the CPU, OpenBLAS over the segments
// in backends/cpu/cpu_grouped_gemm.cpp, parallel across experts).
#include "moelab/moe/grouped_gemm.h"

#include "moelab/autograd/function.h"
#include "moelab/backends/linalg_kernels.h"
#include "moelab/core/error.h"
#include "moelab/moe/dispatch.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/indexing.h"
#include "moelab/ops/op_helpers.h"

namespace moelab::moe {
namespace {

using detail::backend_of;

void check_offsets(const std::vector<int64_t>& offs, int64_t E, int64_t N, const char* op) {
  MOELAB_CHECK(static_cast<int64_t>(offs.size()) == E + 1, op, ": offsets must have E + 1 = ", E + 1,
               " entries, got ", offs.size());
  MOELAB_CHECK(offs[0] == 0, op, ": offsets[0] must be 0, got ", offs[0]);
  for (int64_t e = 0; e < E; ++e)
    MOELAB_CHECK(offs[static_cast<size_t>(e + 1)] >= offs[static_cast<size_t>(e)], op,
                 ": offsets must be non-decreasing, got offsets[", e, "] = ", offs[static_cast<size_t>(e)],
                 " > offsets[", e + 1, "] = ", offs[static_cast<size_t>(e + 1)]);
  MOELAB_CHECK(offs.back() == N, op, ": offsets[E] = ", offs.back(), " must equal the number of rows ", N);
}

void check_float_cpu(const Tensor& t, const char* op, const char* arg, int dims) {
  MOELAB_CHECK(t.defined(), op, ": ", arg, " is undefined");
  MOELAB_CHECK(t.dim() == dims, op, ": ", arg, " must have ", dims, " dims, got shape ", t.shape());
  MOELAB_CHECK(t.dtype() == kF32 || t.dtype() == kF64, op, ": ", arg, " must be f32 or f64, got ", t.dtype());
  MOELAB_CHECK(t.device().is_cpu(), op, ": ", arg, " must be on the CPU, got ", t.device());
}

// y = per-segment x @ w[e]; no autograd.
Tensor gmm_forward(const Tensor& x_in, const Tensor& w_in, const std::vector<int64_t>& offs) {
  const Tensor x = x_in.contiguous();
  // The kernel reads w contiguous or as the transpose(1, 2) view of a contiguous tensor in place
  // (w2.transpose(1, 2) in the backward); anything else is copied.
  Tensor w = w_in;
  if (!w.is_contiguous() && !w.transpose(1, 2).is_contiguous()) w = w.contiguous();
  Tensor y = make_empty({x.size(0), w.size(2)}, x.dtype(), x.device());
  backend_of(x).linalg().grouped_gemm(y, x, w, offs);
  return y;
}

// out[e] = x_seg^T @ y_seg; no autograd.
Tensor gmm_tn_forward(const Tensor& x_in, const Tensor& y_in, const std::vector<int64_t>& offs) {
  const Tensor x = x_in.contiguous(), y = y_in.contiguous();
  const int64_t E = static_cast<int64_t>(offs.size()) - 1;
  Tensor out = make_empty({E, x.size(1), y.size(1)}, x.dtype(), x.device());
  backend_of(x).linalg().grouped_gemm_tn(out, x, y, offs);
  return out;
}

}  // namespace

Tensor grouped_matmul(const Tensor& x, const Tensor& w, const std::vector<int64_t>& offsets) {
  const char* op = "grouped_matmul";
  check_float_cpu(x, op, "x", 2);
  check_float_cpu(w, op, "w", 3);
  MOELAB_CHECK(x.dtype() == w.dtype(), op, ": x and w must have one dtype, got ", x.dtype(), " and ", w.dtype());
  MOELAB_CHECK(x.size(1) == w.size(1), op, ": x [N, d_in] and w [E, d_in, d_out] disagree on d_in (x shape ",
               x.shape(), ", w shape ", w.shape(), ")");
  check_offsets(offsets, w.size(0), x.size(0), op);
  Tensor y;
  {
    autograd::NoGradGuard no_grad;
    y = gmm_forward(x, w, offsets);
  }
  if (autograd::needs_grad({&x, &w}))
    autograd::record_op(op, {&x, &w}, {&y}, {autograd::SavedVariable(x, false), autograd::SavedVariable(w, false)},
                        [offsets](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
                          Tensor gx, gw;
                          if (c.needs_input_grad(0)) gx = grouped_matmul(g[0], c.saved(1).transpose(1, 2), offsets);
                          if (c.needs_input_grad(1)) gw = grouped_matmul_tn(c.saved(0), g[0], offsets);
                          return std::vector<Tensor>{gx, gw};
                        });
  return y;
}

Tensor grouped_matmul(const Tensor& x, const Tensor& w, const Tensor& offsets) {
  MOELAB_CHECK(offsets.defined() && offsets.dim() == 1 && offsets.dtype() == kI64 && offsets.device().is_cpu(),
               "grouped_matmul: offsets must be a 1-D i64 CPU tensor of E + 1 entries, got ",
               offsets.defined() ? offsets.shape() : Shape{});
  return grouped_matmul(x, w, offsets.to_vector<int64_t>());
}

Tensor grouped_matmul_tn(const Tensor& x, const Tensor& y, const std::vector<int64_t>& offsets) {
  const char* op = "grouped_matmul_tn";
  check_float_cpu(x, op, "x", 2);
  check_float_cpu(y, op, "y", 2);
  MOELAB_CHECK(x.dtype() == y.dtype(), op, ": x and y must have one dtype, got ", x.dtype(), " and ", y.dtype());
  MOELAB_CHECK(x.size(0) == y.size(0), op, ": x [N, d_in] and y [N, d_out] disagree on N (x shape ", x.shape(),
               ", y shape ", y.shape(), ")");
  MOELAB_CHECK(!offsets.empty(), op, ": offsets must have E + 1 >= 2 entries");
  check_offsets(offsets, static_cast<int64_t>(offsets.size()) - 1, x.size(0), op);
  Tensor out;
  {
    autograd::NoGradGuard no_grad;
    out = gmm_tn_forward(x, y, offsets);
  }
  if (autograd::needs_grad({&x, &y}))
    // out[e] = x_e^T y_e: d x_e = y_e g[e]^T, d y_e = x_e g[e], both grouped GEMMs again.
    autograd::record_op(op, {&x, &y}, {&out}, {autograd::SavedVariable(x, false), autograd::SavedVariable(y, false)},
                        [offsets](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
                          Tensor gx, gy;
                          if (c.needs_input_grad(0)) gx = grouped_matmul(c.saved(1), g[0].transpose(1, 2), offsets);
                          if (c.needs_input_grad(1)) gy = grouped_matmul(c.saved(0), g[0], offsets);
                          return std::vector<Tensor>{gx, gy};
                        });
  return out;
}

Tensor indirect_matmul(const Tensor& x, const Tensor& w, const Tensor& ids) {
  const char* op = "indirect_matmul";
  check_float_cpu(x, op, "x", 2);
  check_float_cpu(w, op, "w", 3);
  MOELAB_CHECK(ids.defined() && ids.dim() == 1 && ids.size(0) == x.size(0), op,
               ": ids must be [T] with T = x.size(0) = ", x.size(0), ", got shape ",
               ids.defined() ? ids.shape() : Shape{});
  const DispatchPlan plan = plan_dispatch(ids.reshape({-1, 1}), w.size(0));
  const Tensor ys = grouped_matmul(dispatch(x, plan), w, plan.offsets_cpu);
  return index_select(ys, 0, plan.row_of);  // one kept slot per token: row_of is a permutation
}

}  // namespace moelab::moe
