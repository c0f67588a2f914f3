// cumsum / cumprod on the scan primitive, each with its backward beside the forward:
//   cumsum:  dx = reverse_cumsum(dy)                  (reverse_cumsum(t) = flip(cumsum(flip(t))))
//   cumprod: dx = reverse_cumsum(dy * y) / x          where x != 0; at the first zero of a slice,
//            dx = reverse_cumsum(dy * cumprod(x with that zero set to 1)); 0 at later zeros.
// reverse_cumsum is itself a recorded op whose backward is cumsum, so both have derivatives of any
// order written with differentiable ops.
#include "moelab/ops/scan.h"

#include "moelab/autograd/function.h"
#include "moelab/backends/sort_scan_kernels.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/op_helpers.h"
#include "moelab/ops/reduce.h"
#include "moelab/ops/shape_ops.h"

namespace moelab {
namespace {

// Runs the scan primitive on `in` (already in the compute dtype) without recording.
Tensor raw_scan(ScanOp op, const Tensor& in, int d) {
  autograd::NoGradGuard no_grad;
  Tensor out = make_empty(in.shape(), in.dtype(), in.device());
  detail::backend_of(in).sort_scan().scan(op, out, in, d);
  return out;
}

// Sums from the end: out[i] = sum_{j >= i} t[j] along d. The adjoint of cumsum.
Tensor reverse_cumsum(const Tensor& t, int d) {
  if (t.dim() == 0) return t;
  Tensor out;
  {
    autograd::NoGradGuard no_grad;
    out = flip(raw_scan(ScanOp::Sum, flip(t.detach(), {d}), d), {d});
  }
  if (autograd::needs_grad({&t}))
    autograd::record_op("reverse_cumsum", {&t}, {&out}, {},
                        [d](autograd::FunctionNode::Context&, const std::vector<Tensor>& g) {
                          return std::vector<Tensor>{cumsum(g[0], d)};
                        });
  return out;
}

Tensor cumprod_backward(const Tensor& g, const Tensor& x, const Tensor& y, int d) {
  if (x.dim() == 0) return g;
  Tensor is_zero = x == 0.0;
  Tensor safe_x = where(is_zero, ones_like(x), x);
  Tensor grad = reverse_cumsum(g * y, d) / safe_x;
  // Zeros: a sync, as in PyTorch, so that the common case pays for one scan only.
  if (!any(is_zero).item<bool>()) return grad;
  Tensor zeros_so_far = cumsum(is_zero, d);
  Tensor first_zero = logical_and(is_zero, zeros_so_far == 1);
  // The gradient at a later zero is 0, but its derivative with respect to the first zero is not:
  // refuse the second order there rather than give a wrong one.
  MOELAB_CHECK(!autograd::needs_grad({&x}) || !any(zeros_so_far > 1).item<bool>(),
               "cumprod: double backward through a slice with two or more zeros is not supported (input shape ",
               x.shape(), ", dim ", d, ")");
  Tensor at_first_zero = reverse_cumsum(g * cumprod(where(first_zero, ones_like(x), x), d), d);
  return where(is_zero, where(first_zero, at_first_zero, zeros_like(x)), grad);
}

Tensor scan_impl(ScanOp op, const Tensor& x, int64_t dim, std::optional<DType> dtype, const char* name) {
  detail::check_defined(x, name);
  const int d = wrap_dim(dim, x.dim(), name);
  const DType out_dtype = dtype.value_or(is_floating(x.dtype()) ? x.dtype() : kI64);
  MOELAB_CHECK(out_dtype != kBool, name, ": dtype bool is not supported for the result");
  // 16-bit floats are storage-only on CPU: scan in f32, round at the end. The conversions are
  // differentiable copies, so the scan itself records only in -> out.
  const DType compute = (out_dtype == kBF16 || out_dtype == kF16) ? kF32 : out_dtype;
  Tensor in = x.to(compute);
  Tensor out = raw_scan(op, in, d);
  if (autograd::needs_grad({&in})) {
    if (op == ScanOp::Sum) {
      autograd::record_op(name, {&in}, {&out}, {},
                          [d](autograd::FunctionNode::Context&, const std::vector<Tensor>& g) {
                            return std::vector<Tensor>{reverse_cumsum(g[0], d)};
                          });
    } else {
      autograd::record_op(name, {&in}, {&out}, {autograd::SavedVariable(in, false), autograd::SavedVariable(out, true)},
                          [d](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
                            return std::vector<Tensor>{cumprod_backward(g[0], c.saved(0), c.saved(1), d)};
                          });
    }
  }
  return out.to(out_dtype);
}

}  // namespace

Tensor cumsum(const Tensor& x, int64_t dim, std::optional<DType> dtype) {
  return scan_impl(ScanOp::Sum, x, dim, dtype, "cumsum");
}

Tensor cumprod(const Tensor& x, int64_t dim, std::optional<DType> dtype) {
  return scan_impl(ScanOp::Prod, x, dim, dtype, "cumprod");
}

}  // namespace moelab
