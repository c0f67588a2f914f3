// topk, sort, argsort, unique, bincount, histc. Argument checks live here; the kernels
// (SortScanKernels) assume valid input. None of these is differentiable except through the
// values of sort/topk, whose backward scatters dy back to the selected indices.
#include "moelab/ops/sort.h"

#include <cmath>

#include "moelab/autograd/function.h"
#include "moelab/backends/sort_scan_kernels.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/indexing.h"
#include "moelab/ops/op_helpers.h"
#include "moelab/ops/reduce.h"

namespace moelab {
using detail::backend_of;

namespace {

bool is_half(DType t) { return t == kBF16 || t == kF16; }

// 16-bit floats are storage-only on CPU; sorting them as f32 is exact both ways.
Tensor compute_input(const Tensor& x) { return is_half(x.dtype()) ? x.to(kF32) : x; }

// Gradient routing for values picked along d by an index (sort, topk): scatter_to puts g at the
// index positions of a zero tensor of `shape`, gather_from reads them back. Each is recorded with
// the other as its backward, so sort/topk have derivatives of any order at O(numel) cost.
Tensor scatter_to(const Tensor& g, const Tensor& idx, int d, const Shape& shape);

Tensor gather_from(const Tensor& h, const Tensor& idx, int d) {
  Tensor out;
  {
    autograd::NoGradGuard no_grad;
    out = gather(h.detach(), d, idx);
  }
  if (autograd::needs_grad({&h})) {
    Shape s = h.shape();
    autograd::record_op("gather_selected", {&h}, {&out}, {autograd::SavedVariable(idx, false)},
                        [d, s](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
                          return std::vector<Tensor>{scatter_to(g[0], c.saved(0), d, s)};
                        });
  }
  return out;
}

Tensor scatter_to(const Tensor& g, const Tensor& idx, int d, const Shape& shape) {
  Tensor out;
  {
    autograd::NoGradGuard no_grad;
    out = scatter_add(zeros(shape, TensorOptions(g.dtype(), g.device())), d, idx, g.detach());
  }
  if (autograd::needs_grad({&g}))
    autograd::record_op("scatter_selected", {&g}, {&out}, {autograd::SavedVariable(idx, false)},
                        [d](autograd::FunctionNode::Context& c, const std::vector<Tensor>& gg) {
                          return std::vector<Tensor>{gather_from(gg[0], c.saved(0), d)};
                        });
  return out;
}

// Records values = in picked at `indices` along d (sort, topk).
void record_selection(const char* op, const Tensor& in, Tensor& values, const Tensor& indices, int d) {
  if (!autograd::needs_grad({&in})) return;
  Shape xs = in.shape();
  autograd::record_op(op, {&in}, {&values}, {autograd::SavedVariable(indices, false)},
                      [xs, d](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
                        Tensor idx = c.saved(0);
                        if (xs.size() == 0) {  // a 0-d input: one element
                          Tensor r = scatter_to(g[0].reshape({-1}), idx.reshape({-1}), 0, Shape{1});
                          return std::vector<Tensor>{r.reshape(xs)};
                        }
                        return std::vector<Tensor>{scatter_to(g[0], idx, d, xs)};
                      });
}

}  // namespace

std::tuple<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim, bool largest, bool /*sorted*/) {
  detail::check_defined(x, "topk");
  const int d = wrap_dim(dim, x.dim(), "topk");
  const int64_t n = x.dim() ? x.size(d) : 1;
  MOELAB_CHECK(k >= 0 && k <= n, "topk: k (", k, ") is out of range for dim ", d, " of size ", n,
               " (input shape ", x.shape(), ")");
  Tensor in = compute_input(x);
  Shape s = x.shape();
  if (x.dim()) s[d] = k;
  Tensor values = make_empty(s, in.dtype(), x.device());
  Tensor indices = make_empty(s, kI64, x.device());
  // A 0-d input gives its element for k = 0 too (as PyTorch does): the kernel must write it.
  backend_of(x).sort_scan().topk(values, indices, in, x.dim() ? k : 1, d, largest);
  record_selection("topk", in, values, indices, d);
  return {values.to(x.dtype()), indices};
}

std::tuple<Tensor, Tensor> sort(const Tensor& x, int64_t dim, bool descending, bool /*stable*/) {
  detail::check_defined(x, "sort");
  const int d = wrap_dim(dim, x.dim(), "sort");
  Tensor in = compute_input(x);
  Tensor values = make_empty(x.shape(), in.dtype(), x.device());
  Tensor indices = make_empty(x.shape(), kI64, x.device());
  backend_of(x).sort_scan().sort(values, indices, in, d, descending);
  record_selection("sort", in, values, indices, d);
  return {values.to(x.dtype()), indices};
}

Tensor argsort(const Tensor& x, int64_t dim, bool descending, bool stable) {
  return std::get<1>(sort(x, dim, descending, stable));
}

std::tuple<Tensor, Tensor, Tensor> unique(const Tensor& x, bool /*sorted*/, bool return_inverse,
                                          bool return_counts) {
  detail::check_defined(x, "unique");
  autograd::NoGradGuard no_grad;  // not differentiable: nothing to record for the inner sort
  Tensor flat = compute_input(x).reshape({-1});
  auto [sorted_values, perm] = sort(flat, 0);
  const int64_t n = flat.numel();
  Tensor values = make_empty({n}, flat.dtype(), x.device());
  Tensor inverse = return_inverse ? make_empty({n}, kI64, x.device()) : Tensor();
  Tensor counts = return_counts ? make_empty({n}, kI64, x.device()) : Tensor();
  const int64_t g = backend_of(x).sort_scan().unique_consecutive(values, inverse, counts, sorted_values, perm);
  values = values.narrow(0, 0, g).to(x.dtype());
  if (counts.defined()) counts = counts.narrow(0, 0, g);
  if (inverse.defined()) inverse = inverse.view(x.shape());
  return {values, inverse, counts};
}

Tensor bincount(const Tensor& x, const Tensor& weights, int64_t minlength) {
  detail::check_defined(x, "bincount");
  MOELAB_CHECK(x.dim() == 1 && is_integral(x.dtype()),
               "bincount: expected a 1-d tensor of integers (i32/i64), got shape ", x.shape(), " and dtype ",
               x.dtype());
  MOELAB_CHECK(minlength >= 0, "bincount: minlength must be non-negative, got ", minlength);
  DType out_dtype = kI64;
  Tensor w;
  if (weights.defined()) {
    detail::check_same_device({&x, &weights}, "bincount");
    MOELAB_CHECK(weights.dim() == 1 && weights.size(0) == x.size(0), "bincount: weights must be 1-d with ",
                 x.size(0), " elements like the input, got shape ", weights.shape());
    MOELAB_CHECK(weights.dtype() != kBool, "bincount: bool weights are not supported");
    out_dtype = weights.dtype() == kF32 ? kF32 : kF64;
    w = weights.to(out_dtype);
  }
  int64_t len = minlength;
  if (x.numel() > 0) {
    const int64_t lo = amin(x).item<int64_t>();
    MOELAB_CHECK(lo >= 0, "bincount: the input must be non-negative, got the value ", lo, " (shape ", x.shape(),
                 ")");
    len = std::max(len, amax(x).item<int64_t>() + 1);
  }
  Tensor out = zeros({len}, TensorOptions(out_dtype, x.device()));
  if (x.numel() > 0) backend_of(x).sort_scan().bincount(out, x, w);
  return out;
}

Tensor histc(const Tensor& x, int64_t bins, double min, double max) {
  detail::check_defined(x, "histc");
  MOELAB_CHECK(is_floating(x.dtype()), "histc: expected a floating input, got ", x.dtype());
  MOELAB_CHECK(bins > 0, "histc: bins must be positive, got ", bins);
  MOELAB_CHECK(!(min > max), "histc: max (", max, ") must be larger than min (", min, ")");
  Tensor in = compute_input(x);
  double lo = min, hi = max;
  if (lo == hi && in.numel() > 0) {  // the data range
    lo = amin(in).item<double>();
    hi = amax(in).item<double>();
  }
  if (lo == hi) {
    lo -= 1;
    hi += 1;
  }
  MOELAB_CHECK(std::isfinite(lo) && std::isfinite(hi), "histc: the range [", lo, ", ", hi,
               "] is not finite (input shape ", x.shape(), ")");
  Tensor out = make_empty({bins}, in.dtype(), x.device());
  backend_of(x).sort_scan().histc(out, in, lo, hi);
  return out.to(x.dtype());
}

}  // namespace moelab
