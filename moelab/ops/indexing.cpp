// Indexing along one dim: gather, scatter (and its reductions), index_select, index_add,
// index_copy. Every op checks shapes and all index values first, then calls one IndexKernels
// primitive; nothing is written before the checks pass.
#include "moelab/ops/indexing.h"

#include <limits>

#include "moelab/backends/elementwise_kernels.h"
#include "moelab/backends/index_kernels.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/index_helpers.h"
#include "moelab/ops/op_helpers.h"
#include "moelab/ops/reduce.h"

namespace moelab {
using detail::backend_of;
using detail::concat;

namespace detail {

Tensor index_as_i64(const Tensor& index, const char* op, const char* arg) {
  check_defined(index, op, arg);
  MOELAB_CHECK(index.dtype() == kI64 || index.dtype() == kI32, op, ": ", arg,
               " must be an i64 or i32 tensor, got dtype ", index.dtype(), " (shape ", index.shape(), ")");
  return index.to(kI64);
}

void check_index_range(const Tensor& index, int64_t size, bool allow_negative, const char* op, int dim,
                       const std::string& shapes) {
  if (index.numel() == 0) return;
  const int64_t lo = amin(index).item<int64_t>(), hi = amax(index).item<int64_t>();
  const int64_t min_ok = allow_negative ? -size : 0;
  if (lo >= min_ok && hi < size) return;
  const int64_t bad = lo < min_ok ? lo : hi;
  MOELAB_FAIL(op, ": index ", bad, " is out of range for dim ", dim, " of size ", size, " (", shapes, ")");
}

void check_writable(const Tensor& x, const char* op) {
  for (int d = 0; d < x.dim(); ++d)
    MOELAB_CHECK(x.size(d) <= 1 || x.stride(d) != 0, op, ": the destination of shape ", x.shape(),
                 " is an expanded tensor (stride 0 on dim ", d,
                 "), so several of its elements share memory; clone it before writing in place");
}

Tensor move_to_front(const Tensor& t, int d) {
  if (d == 0) return t;
  Dims perm{d};
  for (int i = 0; i < t.dim(); ++i)
    if (i != d) perm.push_back(i);
  return t.permute(perm);
}

}  // namespace detail

namespace {

// 0-d tensors take part in gather/scatter as 1-d tensors of one element (as in PyTorch).
Tensor at_least_1d(const Tensor& t) { return t.dim() == 0 ? t.reshape({1}) : t; }

std::string shapes_of(const Tensor& x, const Tensor& index) {
  return concat("input shape ", x.shape(), ", index shape ", index.shape());
}
std::string shapes_of(const Tensor& x, const Tensor& index, const Tensor& src) {
  return concat("input shape ", x.shape(), ", index shape ", index.shape(), ", src shape ", src.shape());
}

// ---- gather / scatter ----

// Checked operands of a scatter into `x` (all at least 1-d, index in i64).
struct ScatterArgs {
  Tensor x, index, src;
  int dim;
};

ScatterArgs check_scatter(const Tensor& x, int64_t dim, const Tensor& index_in, const Tensor& src,
                          const char* op) {
  detail::check_same_device({&x, &index_in, &src}, op);
  Tensor index = detail::index_as_i64(index_in, op);
  MOELAB_CHECK(src.dtype() == x.dtype(), op, ": src has dtype ", src.dtype(), " but the input has ", x.dtype());
  ScatterArgs a{at_least_1d(x), at_least_1d(index), at_least_1d(src), 0};
  MOELAB_CHECK(a.index.dim() == a.x.dim() && a.src.dim() == a.x.dim(), op,
               ": input, index and src must have the same number of dims (", shapes_of(x, index_in, src), ")");
  a.dim = wrap_dim(dim, a.x.dim(), op);
  for (int d = 0; d < a.x.dim(); ++d) {
    MOELAB_CHECK(a.index.size(d) <= a.src.size(d), op, ": index is larger than src at dim ", d, " (",
                 shapes_of(x, index_in, src), ")");
    MOELAB_CHECK(d == a.dim || a.index.size(d) <= a.x.size(d), op, ": index is larger than the input at dim ",
                 d, " (", shapes_of(x, index_in, src), ")");
  }
  detail::check_index_range(a.index, a.x.size(a.dim), false, op, a.dim, shapes_of(x, index_in, src));
  return a;
}

void run_scatter(const ScatterArgs& a, ScatterOp op) {
  backend_of(a.x).index().scatter(a.x, a.dim, a.index, a.src, op);
  a.x.storage()->bump_version();
}

// A scalar source as a stride-0 tensor of the index's shape.
Tensor scalar_source(const Tensor& x, const Tensor& index, Scalar value) {
  return full({}, value, TensorOptions(x.dtype(), x.device())).expand(index.shape());
}

Tensor& scatter_inplace(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src, ScatterOp op,
                        const char* name) {
  detail::check_defined(x, name);
  detail::check_writable(x, name);
  run_scatter(check_scatter(x, dim, index, src, name), op);
  return x;
}

Tensor scatter_outplace(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src, ScatterOp op,
                        const char* name) {
  detail::check_defined(x, name);
  ScatterArgs a = check_scatter(x, dim, index, src, name);
  Tensor out = x.clone();
  a.x = at_least_1d(out);
  run_scatter(a, op);
  return out;
}

}  // namespace

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index_in) {
  detail::check_same_device({&x, &index_in}, "gather");
  Tensor index = detail::index_as_i64(index_in, "gather");
  Tensor xs = at_least_1d(x), is = at_least_1d(index);
  MOELAB_CHECK(is.dim() == xs.dim(), "gather: index must have as many dims as the input (",
               shapes_of(x, index_in), ")");
  const int d = wrap_dim(dim, xs.dim(), "gather");
  for (int k = 0; k < xs.dim(); ++k)
    MOELAB_CHECK(k == d || is.size(k) <= xs.size(k), "gather: index is larger than the input at dim ", k, " (",
                 shapes_of(x, index_in), ")");
  detail::check_index_range(is, xs.size(d), false, "gather", d, shapes_of(x, index_in));
  Tensor out = make_empty(index.shape(), x.dtype(), x.device());
  backend_of(x).index().gather(at_least_1d(out), xs, d, is);
  return out;
}

Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  return scatter_outplace(x, dim, index, src, ScatterOp::Assign, "scatter");
}
Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, Scalar value) {
  detail::check_defined(x, "scatter");
  detail::check_defined(index, "scatter", "index");
  return scatter_outplace(x, dim, index, scalar_source(x, index, value), ScatterOp::Assign, "scatter");
}
Tensor& scatter_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  return scatter_inplace(x, dim, index, src, ScatterOp::Assign, "scatter_");
}
Tensor& scatter_(Tensor& x, int64_t dim, const Tensor& index, Scalar value) {
  detail::check_defined(x, "scatter_");
  detail::check_defined(index, "scatter_", "index");
  return scatter_inplace(x, dim, index, scalar_source(x, index, value), ScatterOp::Assign, "scatter_");
}
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  return scatter_outplace(x, dim, index, src, ScatterOp::Add, "scatter_add");
}
Tensor& scatter_add_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  return scatter_inplace(x, dim, index, src, ScatterOp::Add, "scatter_add_");
}

Tensor scatter_reduce(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src,
                      std::string_view reduce, bool include_self) {
  const char* op = "scatter_reduce";
  detail::check_defined(x, op);
  ScatterOp sop = ScatterOp::Add;
  const bool mean = reduce == "mean";
  if (reduce == "prod") sop = ScatterOp::Mul;
  else if (reduce == "amax") sop = ScatterOp::Max;
  else if (reduce == "amin") sop = ScatterOp::Min;
  else MOELAB_CHECK(reduce == "sum" || mean, op, ": reduce must be one of sum, prod, mean, amax, amin; got \"",
                    reduce, "\"");
  MOELAB_CHECK(x.dtype() != kBool && x.dtype() != kBF16 && x.dtype() != kF16, op, ": dtype ", x.dtype(),
               " is not supported");
  ScatterArgs a = check_scatter(x, dim, index, src, op);
  Tensor out = x.clone();
  a.x = at_least_1d(out);
  if (!include_self) {
    // Elements that receive a value start from the reduction's identity rather than from x.
    Scalar identity = visit_dtype<DTypes::Numeric>(x.dtype(), op, [&]<class T>() -> Scalar {
      using L = std::numeric_limits<T>;
      switch (sop) {
        case ScatterOp::Mul: return 1;
        case ScatterOp::Max: return L::has_infinity ? Scalar(-L::infinity()) : Scalar(L::lowest());
        case ScatterOp::Min: return L::has_infinity ? Scalar(L::infinity()) : Scalar(L::max());
        default: return 0;
      }
    });
    run_scatter({a.x, a.index, scalar_source(out, a.index, identity), a.dim}, ScatterOp::Assign);
  }
  run_scatter(a, sop);
  if (!mean) return out;
  // mean = sum / count, where count includes x's own element when include_self.
  Tensor count = include_self ? ones_like(out) : zeros_like(out);
  run_scatter({at_least_1d(count), a.index, scalar_source(count, a.index, 1), a.dim}, ScatterOp::Add);
  count = where(count == 0, ones_like(count), count);
  if (is_floating(x.dtype())) return out / count;
  return floor(out.to(kF64) / count.to(kF64)).to(x.dtype());  // integers round down, as in PyTorch
}

// ---- along one dim with a 1-D index ----

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index_in) {
  const char* op = "index_select";
  detail::check_same_device({&x, &index_in}, op);
  Tensor index = detail::index_as_i64(index_in, op);
  MOELAB_CHECK(index.dim() <= 1, op, ": index must be 0-d or 1-d (", shapes_of(x, index_in), ")");
  if (x.dim() == 0) {  // PyTorch: a 0-d input takes index 0 only and stays 0-d
    wrap_dim(dim, 1, op);
    detail::check_index_range(index, 1, false, op, 0, shapes_of(x, index_in));
    return x.clone();
  }
  const int d = wrap_dim(dim, x.dim(), op);
  detail::check_index_range(index, x.size(d), false, op, d, shapes_of(x, index_in));
  Shape s = x.shape();
  s[d] = index.numel();
  Tensor out = make_empty(s, x.dtype(), x.device());
  const Tensor idx[] = {index.reshape({-1})};
  backend_of(x).index().index(detail::move_to_front(out, d), detail::move_to_front(x, d), idx);
  return out;
}

namespace {

// x.select(dim, index[j]) = (or +=) values.select(dim, j), in place; `op` names the public op.
Tensor& index_put_along(Tensor& x, int64_t dim, const Tensor& index_in, const Tensor& src, Scalar alpha,
                        bool accumulate, const char* op, const Tensor* check_x = nullptr) {
  detail::check_same_device({&x, &index_in, &src}, op);
  const Tensor& shown = check_x ? *check_x : x;  // the user's tensor, for messages
  Tensor index = detail::index_as_i64(index_in, op);
  MOELAB_CHECK(index.dim() <= 1, op, ": index must be 0-d or 1-d (", shapes_of(shown, index_in, src), ")");
  MOELAB_CHECK(src.dtype() == x.dtype(), op, ": source has dtype ", src.dtype(), " but the input has ", x.dtype());
  Tensor xs = at_least_1d(x), ss = at_least_1d(src);
  const int d = wrap_dim(dim, xs.dim(), op);
  bool same_slices = ss.dim() == xs.dim() && ss.size(d) == index.numel();
  for (int k = 0; same_slices && k < xs.dim(); ++k) same_slices = k == d || ss.size(k) == xs.size(k);
  MOELAB_CHECK(same_slices, op, ": source must have the input's shape except at dim ", d,
               ", where its size must be the number of indices (", shapes_of(shown, index_in, src), ")");
  detail::check_index_range(index, xs.size(d), false, op, d, shapes_of(shown, index_in, src));
  MOELAB_CHECK(is_floating(x.dtype()) || !alpha.is_floating(), op, ": alpha ", alpha.to_double(),
               " must be an integer for an input of dtype ", x.dtype());
  if (!check_x) detail::check_writable(x, op);
  Tensor values = ss;
  if (accumulate && alpha.to_double() != 1.0)
    values = mul(ss, scalar_tensor(alpha, ss.dtype())).to(x.dtype());
  const Tensor idx[] = {index.reshape({-1})};
  backend_of(x).index().index_put(detail::move_to_front(xs, d), idx, detail::move_to_front(values, d), accumulate);
  x.storage()->bump_version();
  return x;
}

}  // namespace

Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src, Scalar alpha) {
  detail::check_defined(x, "index_add");
  Tensor out = x.clone();
  return index_put_along(out, dim, index, src, alpha, true, "index_add", &x);
}
Tensor& index_add_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src, Scalar alpha) {
  detail::check_defined(x, "index_add_");
  return index_put_along(x, dim, index, src, alpha, true, "index_add_");
}
Tensor index_copy(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  detail::check_defined(x, "index_copy");
  Tensor out = x.clone();
  return index_put_along(out, dim, index, src, 1, false, "index_copy", &x);
}
Tensor& index_copy_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  detail::check_defined(x, "index_copy_");
  return index_put_along(x, dim, index, src, 1, false, "index_copy_");
}

}  // namespace moelab
