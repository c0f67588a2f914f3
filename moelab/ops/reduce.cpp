#include "moelab/ops/reduce.h"

#include <cmath>
#include <limits>

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

}  // namespace

Tensor sum(const Tensor& x, const Dims& dims, bool keepdim, std::optional<DType> dtype) {
  check_compute_dtype(x, "sum");
  DType t = dtype.value_or(is_floating(x.dtype()) ? x.dtype() : kI64);
  uint32_t mask = detail::dim_mask(dims, x.dim(), "sum");
  return run_reduce(ReduceOp::Sum, x.to(t), mask, keepdim, t);
}

Tensor prod(const Tensor& x, const Dims& dims, bool keepdim) {
  check_compute_dtype(x, "prod");
  DType t = is_floating(x.dtype()) ? x.dtype() : kI64;
  return run_reduce(ReduceOp::Prod, x.to(t), detail::dim_mask(dims, x.dim(), "prod"), keepdim, t);
}

Tensor mean(const Tensor& x, const Dims& dims, bool keepdim) {
  check_compute_dtype(x, "mean");
  detail::check_floating(x, "mean");
  uint32_t mask = detail::dim_mask(dims, x.dim(), "mean");
  Tensor s = run_reduce(ReduceOp::Sum, x, mask, keepdim, x.dtype());
  // 0/0 gives NaN for an empty reduction, as in PyTorch.
  return s / static_cast<double>(reduced_count(x, mask));
}

Tensor amax(const Tensor& x, const Dims& dims, bool keepdim) {
  check_compute_dtype(x, "amax");
  uint32_t mask = detail::dim_mask(dims, x.dim(), "amax");
  check_nonempty(x, mask, "amax");
  return run_reduce(ReduceOp::Max, x, mask, keepdim, x.dtype());
}

Tensor amin(const Tensor& x, const Dims& dims, bool keepdim) {
  check_compute_dtype(x, "amin");
  uint32_t mask = detail::dim_mask(dims, x.dim(), "amin");
  check_nonempty(x, mask, "amin");
  return run_reduce(ReduceOp::Min, x, mask, keepdim, x.dtype());
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
  backend_of(in).reduce().arg_reduce(is_max, values, indices, in, d);
  if (keepdim && x.dim() > 0) return {values, indices};
  Shape s = x.dim() == 0 ? Shape{} : detail::reduced_shape(in.shape(), 1u << d, false);
  return {values.view(s), indices.view(s)};
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
  Tensor ss = run_reduce(ReduceOp::Sum, square(centered), mask, keepdim, x.dtype());
  double n = static_cast<double>(reduced_count(x, mask)) - correction;
  return ss / std::max(n, 0.0);  // n <= 0 gives inf or NaN, as in PyTorch
}

Tensor std(const Tensor& x, const Dims& dims, double correction, bool keepdim) {
  return sqrt(var(x, dims, correction, keepdim));
}

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
  if (p == 2) return sqrt(sum(square(x), dims, keepdim));
  return pow(sum(pow(abs(x), p), dims, keepdim), 1.0 / p);
}

Tensor logsumexp(const Tensor& x, const Dims& dims, bool keepdim) {
  check_compute_dtype(x, "logsumexp");
  Tensor xf = is_floating(x.dtype()) ? x : x.to(kF32);
  uint32_t mask = detail::dim_mask(dims, x.dim(), "logsumexp");
  if (reduced_count(xf, mask) == 0) return log(sum(exp(xf), dims, keepdim));
  // Shift by the max for stability; an infinite max would give inf - inf, so shift by 0 there.
  Tensor m = amax(xf, dims, true);
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
