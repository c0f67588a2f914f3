// softmax / log_softmax: one fused primitive (SortScanKernels::softmax) that shifts each row by
// its max, so exp never overflows. The backward (autograd issue) sits here beside the forward:
//   softmax:     dx = y * (dy - sum(dy * y, dim))
//   log_softmax: dx = dy - exp(y) * sum(dy, dim)
#include "moelab/ops/softmax.h"

#include "moelab/backends/sort_scan_kernels.h"
#include "moelab/ops/op_helpers.h"

namespace moelab {
namespace {

Tensor softmax_impl(const Tensor& x, int64_t dim, std::optional<DType> dtype, bool log) {
  const char* op = log ? "log_softmax" : "softmax";
  detail::check_defined(x, op);
  Tensor in = dtype ? x.to(*dtype) : x;
  MOELAB_CHECK(is_floating(in.dtype()), op, ": expected a floating input, got ", in.dtype(), " (shape ",
               x.shape(), "); pass dtype= to convert");
  const int d = wrap_dim(dim, in.dim(), op);
  // 16-bit floats are storage-only on CPU: compute in f32 and round once at the end.
  const DType out_dtype = in.dtype();
  if (out_dtype == kBF16 || out_dtype == kF16) in = in.to(kF32);
  Tensor out = make_empty(in.shape(), in.dtype(), in.device());
  detail::backend_of(in).sort_scan().softmax(out, in, d, log);
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
