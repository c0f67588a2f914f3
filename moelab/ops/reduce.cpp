#include "moelab/ops/reduce.h"

#include <cmath>
#include <limits>

#include "moelab/autograd/function.h"
#include "moelab/backends/reduce_kernels.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/op_helpers.h"

namespace moelab {
using detail::backend_of;

namespace {

void check_compute_dtype(const Tensor& x, const char* op) {
  detail::check_defined(x, op);
  MOELAB_CHECK(x.dtype() != DType::BF16 && x.dtype() != DType::F16, op, ": ", x.dtype(),
               " is a storage dtype on CPU; convert with .to(kF32) first");
}

// Runs a reduction primitive and shapes the result for keepdim.
Tensor run_reduce(ReduceOp op, const Tensor& x, uint32_t mask, bool keepdim, DType out_dtype) {
  autograd::NoGradGuard no_grad;
  Tensor out = make_empty(detail::reduced_shape(x.shape(), mask, true), out_dtype, x.device());
  backend_of(x).reduce().reduce(op, out, x, mask);
  return keepdim ? out : out.view(detail::reduced_shape(x.shape(), mask, false));
}

int64_t reduced_count(const Tensor& x, uint32_t mask) {
  int64_t n = 1;
  for (int d = 0; d < x.dim(); ++d)
    if (mask >> d & 1u) n *= x.size(d);
  return n;
}

void check_nonempty(const Tensor& x, uint32_t mask, const char* op) {
  MOELAB_CHECK(reduced_count(x, mask) > 0, op, ": cannot reduce over a dim of size 0 (shape ", x.shape(),
               "); there is no identity");
}

// g (shaped like a reduction's output, keepdim or not) viewed with the reduced dims as size 1.
Tensor keepdim_view(const Tensor& g, const Shape& in_shape, uint32_t mask) {
  return g.reshape(detail::reduced_shape(in_shape, mask, true));
}

// The gradient of amax/amin: split evenly among the elements equal to the extremum.
Tensor extremum_grad(const Tensor& g, const Tensor& xs, const Tensor& o, uint32_t mask) {
  Dims rd;
  for (int d = 0; d < xs.dim(); ++d)
    if (mask >> d & 1u) rd.push_back(d);
  Tensor hit = (xs == o).to(g.dtype());
  Tensor count = rd.empty() ? hit : sum(hit, rd, true);
  return g * hit / count;
}

// Records the backward of a reduction whose input gradient is formula(g_keepdim, x, out_keepdim).
template <class Formula>
void record_reduction(const char* name, const Tensor& x, Tensor& out, uint32_t mask, Formula formula) {
  if (!autograd::needs_grad({&x})) return;
  Shape in_shape = x.shape();
  autograd::record_op(name, {&x}, {&out}, {autograd::SavedVariable(x, false), autograd::SavedVariable(out, true)},
                      [formula, in_shape, mask](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
                        Tensor xs = c.saved(0);
                        Tensor o = keepdim_view(c.saved(1), in_shape, mask);
                        return std::vector<Tensor>{formula(keepdim_view(g[0], in_shape, mask), xs, o)};
                      });
}

}  // namespace

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  int lead = g.dim() - shape.size();
  MOELAB_CHECK(lead >= 0, "sum_to: shape ", g.shape(), " cannot be summed to ", shape);
  Dims dims;
  for (int i = 0; i < lead; ++i) dims.push_back(i);
  for (int i = 0; i < shape.size(); ++i) {
    MOELAB_CHECK(shape[i] == g.size(lead + i) || shape[i] == 1, "sum_to: shape ", g.shape(),
                 " cannot be summed to ", shape);
    if (shape[i] == 1 && g.size(lead + i) != 1) dims.push_back(lead + i);
  }
  if (dims.empty()) return g.reshape(shape);
  return sum(g, dims, true).reshape(shape);
}

Tensor sum(const Tensor& x, const Dims& dims, bool keepdim, std::optional<DType> dtype) {
  check_compute_dtype(x, "sum");
  DType t = dtype.value_or(is_floating(x.dtype()) ? x.dtype() : kI64);
  uint32_t mask = detail::dim_mask(dims, x.dim(), "sum");
  Tensor out = run_reduce(ReduceOp::Sum, x.to(t), mask, keepdim, t);
  if (autograd::needs_grad({&x})) {
    // Only the input's shape is needed: the gradient is g broadcast back over the reduced dims.
    Shape in_shape = x.shape();
    DType in_dtype = x.dtype();
    autograd::record_op("sum", {&x}, {&out}, {},
                        [in_shape, in_dtype, mask](autograd::FunctionNode::Context&, const std::vector<Tensor>& g) {
                          Tensor r = keepdim_view(g[0], in_shape, mask).expand(in_shape);
                          return std::vector<Tensor>{r.dtype() == in_dtype ? r : r.to(in_dtype)};
                        });
  }
  return out;
}

Tensor prod(const Tensor& x, const Dims& dims, bool keepdim) {
  check_compute_dtype(x, "prod");
  DType t = is_floating(x.dtype()) ? x.dtype() : kI64;
  uint32_t mask = detail::dim_mask(dims, x.dim(), "prod");
  Tensor out = run_reduce(ReduceOp::Prod, x.to(t), mask, keepdim, t);
  // d prod / d x_i = product of the others: out / x_i when the slice has no zero; for a slice with
  // one zero, the product of the non-zeros at the zero and 0 elsewhere; 0 with two zeros or more.
  record_reduction("prod", x, out, mask, [mask](const Tensor& g, const Tensor& xs, const Tensor& o) {
    Dims rd;
    for (int d = 0; d < xs.dim(); ++d)
      if (mask >> d & 1u) rd.push_back(d);
    if (rd.empty()) return g.expand(xs.shape()).clone();
    Tensor is_zero = xs == 0.0;
    Tensor zeros_in_slice = sum(is_zero, rd, true);
    Tensor safe_x = where(is_zero, ones_like(xs), xs);
    Tensor prod_nonzero = prod(safe_x, rd, true);
    Tensor no_zero = where(zeros_in_slice == 0, o / safe_x, zeros_like(xs));
    Tensor one_zero = where(logical_and(zeros_in_slice == 1, is_zero), prod_nonzero.expand(xs.shape()), zeros_like(xs));
    return g * (no_zero + one_zero);
  });
  return out;
}

Tensor mean(const Tensor& x, const Dims& dims, bool keepdim) {
  check_compute_dtype(x, "mean");
  detail::check_floating(x, "mean");
  uint32_t mask = detail::dim_mask(dims, x.dim(), "mean");
  // 0/0 gives NaN for an empty reduction, as in PyTorch.
  return sum(x, dims, keepdim) / static_cast<double>(reduced_count(x, mask));
}

Tensor amax(const Tensor& x, const Dims& dims, bool keepdim) {
  check_compute_dtype(x, "amax");
  uint32_t mask = detail::dim_mask(dims, x.dim(), "amax");
  check_nonempty(x, mask, "amax");
  Tensor out = run_reduce(ReduceOp::Max, x, mask, keepdim, x.dtype());
  record_reduction("amax", x, out, mask, [mask](const Tensor& g, const Tensor& xs, const Tensor& o) {
    return extremum_grad(g, xs, o, mask);
  });
  return out;
}

Tensor amin(const Tensor& x, const Dims& dims, bool keepdim) {
  check_compute_dtype(x, "amin");
  uint32_t mask = detail::dim_mask(dims, x.dim(), "amin");
  check_nonempty(x, mask, "amin");
  Tensor out = run_reduce(ReduceOp::Min, x, mask, keepdim, x.dtype());
  record_reduction("amin", x, out, mask, [mask](const Tensor& g, const Tensor& xs, const Tensor& o) {
    return extremum_grad(g, xs, o, mask);
  });
  return out;
}

Tensor max(const Tensor& x) {
  MOELAB_CHECK(!x.defined() || x.numel() > 0, "max: the tensor is empty (shape ", x.shape(), ")");
  return amax(x);
}
Tensor min(const Tensor& x) {
  MOELAB_CHECK(!x.defined() || x.numel() > 0, "min: the tensor is empty (shape ", x.shape(), ")");
  return amin(x);
}

namespace {
std::tuple<Tensor, Tensor> arg_reduce(bool is_max, const Tensor& x, int64_t dim, bool keepdim, const char* op) {
  check_compute_dtype(x, op);
  Tensor in = x.dim() == 0 ? x.reshape({1}) : x;
  int d = wrap_dim(dim, in.dim(), op);
  MOELAB_CHECK(in.size(d) > 0, op, ": cannot reduce over dim ", d, " of size 0 (shape ", x.shape(), ")");
  Shape ks = detail::reduced_shape(in.shape(), 1u << d, true);
  Tensor values = make_empty(ks, in.dtype(), in.device());
  Tensor indices = make_empty(ks, kI64, in.device());
  {
    autograd::NoGradGuard no_grad;
    backend_of(in).reduce().arg_reduce(is_max, values, indices, in, d);
  }
  Shape s = keepdim && x.dim() > 0 ? ks : x.dim() == 0 ? Shape{} : detail::reduced_shape(in.shape(), 1u << d, false);
  values = values.view(s);
  indices = indices.view(s);
  if (autograd::needs_grad({&x})) {
    // The gradient goes to the selected index along the dim.
    Shape xshape = x.shape();
    autograd::record_op(op, {&x}, {&values, &indices}, {autograd::SavedVariable(indices, false)},
                        [xshape, ks, d](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
                          Tensor idx = c.saved(0).reshape(ks);
                          Shape pos_shape = Dims::filled(ks.size(), 1);
                          pos_shape[d] = xshape.size() == 0 ? 1 : xshape[d];
                          Tensor pos = arange(0, pos_shape[d]).reshape(pos_shape);
                          Tensor hit = (pos == idx).to(g[0].dtype());
                          return std::vector<Tensor>{(g[0].reshape(ks) * hit).reshape(xshape)};
                        });
  }
  return {values, indices};
}
}  // namespace

std::tuple<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) {
  return arg_reduce(true, x, dim, keepdim, "max");
}
std::tuple<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim) {
  return arg_reduce(false, x, dim, keepdim, "min");
}

Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  if (!dim) return std::get<1>(arg_reduce(true, x.reshape({-1}), 0, false, "argmax"));
  return std::get<1>(arg_reduce(true, x, *dim, keepdim, "argmax"));
}
Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  if (!dim) return std::get<1>(arg_reduce(false, x.reshape({-1}), 0, false, "argmin"));
  return std::get<1>(arg_reduce(false, x, *dim, keepdim, "argmin"));
}

Tensor var(const Tensor& x, const Dims& dims, double correction, bool keepdim) {
  check_compute_dtype(x, "var");
  detail::check_floating(x, "var");
  uint32_t mask = detail::dim_mask(dims, x.dim(), "var");
  // Two passes (mean, then squared deviations) for accuracy.
  Tensor centered = x - mean(x, dims, true);
  Tensor ss = sum(square(centered), dims, keepdim);
  double n = static_cast<double>(reduced_count(x, mask)) - correction;
  return ss / std::max(n, 0.0);  // n <= 0 gives inf or NaN, as in PyTorch
}

Tensor std(const Tensor& x, const Dims& dims, double correction, bool keepdim) {
  return sqrt(var(x, dims, correction, keepdim));
}

namespace {
// The 2-norm with the subgradient 0 at x = 0 (the composite sqrt(sum(x^2)) would give NaN there).
Tensor norm2(const Tensor& x, const Dims& dims, bool keepdim) {
  Tensor out;
  {
    autograd::NoGradGuard no_grad;
    out = sqrt(sum(square(x), dims, keepdim));
  }
  record_reduction("norm", x, out, detail::dim_mask(dims, x.dim(), "norm"),
                   [](const Tensor& g, const Tensor& xs, const Tensor& o) {
                     Tensor safe = where(o == 0.0, ones_like(o), o);
                     return where(o == 0.0, zeros_like(xs), g * xs / safe);
                   });
  return out;
}
}  // namespace

Tensor norm(const Tensor& x, double p, const Dims& dims, bool keepdim) {
  check_compute_dtype(x, "norm");
  detail::check_floating(x, "norm");
  MOELAB_CHECK(p > 0, "norm: p must be positive, got ", p);
  if (std::isinf(p)) {
    Tensor a = abs(x);
    if (x.numel() == 0) return sum(a, dims, keepdim);  // empty: 0, as in PyTorch
    return amax(a, dims, keepdim);
  }
  if (p == 1) return sum(abs(x), dims, keepdim);
  if (p == 2) return norm2(x, dims, keepdim);
  return pow(sum(pow(abs(x), p), dims, keepdim), 1.0 / p);
}

Tensor logsumexp(const Tensor& x, const Dims& dims, bool keepdim) {
  check_compute_dtype(x, "logsumexp");
  Tensor xf = is_floating(x.dtype()) ? x : x.to(kF32);
  uint32_t mask = detail::dim_mask(dims, x.dim(), "logsumexp");
  if (reduced_count(xf, mask) == 0) return log(sum(exp(xf), dims, keepdim));
  // Shift by the max for stability; an infinite max would give inf - inf, so shift by 0 there.
  Tensor m = amax(xf.detach(), dims, true);
  m = where(isfinite(m), m, zeros_like(m));
  Tensor r = log(sum(exp(xf - m), dims, true)) + m;
  return keepdim ? r : r.view(detail::reduced_shape(x.shape(), mask, false));
}

Tensor any(const Tensor& x, const Dims& dims, bool keepdim) {
  check_compute_dtype(x, "any");
  return run_reduce(ReduceOp::Any, x, detail::dim_mask(dims, x.dim(), "any"), keepdim, kBool);
}

Tensor all(const Tensor& x, const Dims& dims, bool keepdim) {
  check_compute_dtype(x, "all");
  return run_reduce(ReduceOp::All, x, detail::dim_mask(dims, x.dim(), "all"), keepdim, kBool);
}

}  // namespace moelab
