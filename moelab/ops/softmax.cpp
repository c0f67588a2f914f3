// softmax / log_softmax: one fused primitive (SortScanKernels::softmax) that shifts each row by
// its max, so exp never overflows. The backward sits beside the forward, written with
// differentiable ops on the saved output y (so create_graph gives second derivatives):
//   softmax:     dx = y * (dy - sum(dy * y, dim))
//   log_softmax: dx = dy - exp(y) * sum(dy, dim)
#include "moelab/ops/softmax.h"

#include "moelab/autograd/function.h"
#include "moelab/backends/sort_scan_kernels.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/op_helpers.h"
#include "moelab/ops/reduce.h"

namespace moelab {
namespace {

Tensor softmax_impl(const Tensor& x, int64_t dim, std::optional<DType> dtype, bool log) {
  const char* op = log ? "log_softmax" : "softmax";
  detail::check_defined(x, op);
  // The dtype conversions are differentiable copies, so the op itself records only in -> out.
  Tensor in = dtype ? x.to(*dtype) : x;
  MOELAB_CHECK(is_floating(in.dtype()), op, ": expected a floating input, got ", in.dtype(), " (shape ",
               x.shape(), "); pass dtype= to convert");
  const int d = wrap_dim(dim, in.dim(), op);
  // 16-bit floats are storage-only on CPU: compute in f32 and round once at the end.
  const DType out_dtype = in.dtype();
  if (out_dtype == kBF16 || out_dtype == kF16) in = in.to(kF32);
  Tensor out = make_empty(in.shape(), in.dtype(), in.device());
  {
    autograd::NoGradGuard no_grad;
    detail::backend_of(in).sort_scan().softmax(out, in, d, log);
  }
  if (autograd::needs_grad({&in})) {
    autograd::record_op(op, {&in}, {&out}, {autograd::SavedVariable(out, true)},
                        [d, log](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
                          Tensor y = c.saved(0);
                          const Dims dims = y.dim() ? Dims{d} : Dims{};
                          if (log) return std::vector<Tensor>{g[0] - exp(y) * sum(g[0], dims, true)};
                          return std::vector<Tensor>{y * (g[0] - sum(g[0] * y, dims, true))};
                        });
  }
  return out.to(out_dtype);
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim, std::optional<DType> dtype) {
  return softmax_impl(x, dim, dtype, false);
}

Tensor log_softmax(const Tensor& x, int64_t dim, std::optional<DType> dtype) {
  return softmax_impl(x, dim, dtype, true);
}

}  // namespace moelab
