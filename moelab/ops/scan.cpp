// cumsum / cumprod on the scan primitive. Backward (autograd issue), to sit beside the forward:
//   cumsum:  dx = flip(cumsum(flip(dy)))
//   cumprod: dx = reverse-cumsum(dy * y) / x where x != 0 (zeros need the exclusive-product form)
#include "moelab/ops/scan.h"

#include "moelab/backends/sort_scan_kernels.h"
#include "moelab/ops/op_helpers.h"

namespace moelab {
namespace {

Tensor scan_impl(ScanOp op, const Tensor& x, int64_t dim, std::optional<DType> dtype, const char* name) {
  detail::check_defined(x, name);
  const int d = wrap_dim(dim, x.dim(), name);
  const DType out_dtype = dtype.value_or(is_floating(x.dtype()) ? x.dtype() : kI64);
  MOELAB_CHECK(out_dtype != kBool, name, ": dtype bool is not supported for the result");
  // 16-bit floats are storage-only on CPU: scan in f32, round at the end.
  const DType compute = (out_dtype == kBF16 || out_dtype == kF16) ? kF32 : out_dtype;
  Tensor in = x.to(compute);
  Tensor out = make_empty(in.shape(), compute, in.device());
  detail::backend_of(in).sort_scan().scan(op, out, in, d);
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
