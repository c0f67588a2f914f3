// Indexing along one dim: gather, scatter (and its reductions), index_select, index_add,
// index_copy. Every op checks shapes and all index values first, then calls one IndexKernels
// primitive; nothing is written before the checks pass. Each op's backward sits beside it and is
// written with these same public ops (gather <-> scatter_add, index_select <-> index_add), so
// gradients of gradients work too. Index tensors never get gradients.
#include "moelab/ops/indexing.h"

#include <limits>

#include "moelab/autograd/function.h"
#include "moelab/backends/elementwise_kernels.h"
#include "moelab/backends/index_kernels.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/index_helpers.h"
#include "moelab/ops/op_helpers.h"
#include "moelab/ops/reduce.h"
#include "moelab/ops/shape_ops.h"

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

// t (shaped like an index) zero-padded at the end of each dim to `shape` (a source at least as
// large as the index, as scatter allows); differentiable.
Tensor fit_to(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t;
  Tensor t1 = at_least_1d(t);
  const Shape s1 = shape.empty() ? Shape{1} : shape;
  std::vector<int64_t> p;
  for (int d = t1.dim() - 1; d >= 0; --d) {
    p.push_back(0);
    p.push_back(s1[d] - t1.size(d));
  }
  return pad(t1, p).reshape(shape);
}

TensorOptions options_of(const Tensor& t) { return TensorOptions(t.dtype(), t.device()); }

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
  int dim = 0;
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

// Records the scatter (Assign or Add) of src into self, already written in place: self takes the
// new history. d self = g, with the written positions zeroed for Assign; d src = g gathered at the
// index (zero where src is larger than the index).
void record_scatter(Tensor& self, const Tensor& src, const Tensor& index, int dim, ScatterOp op, const char* name) {
  const Shape src_shape = src.shape();
  autograd::record_op(name, {&self, &src}, {&self}, {autograd::SavedVariable(index, false)},
                      [src_shape, dim, op](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
                        std::vector<Tensor> r(2);
                        Tensor idx = c.saved(0);
                        if (c.needs_input_grad(0)) r[0] = op == ScatterOp::Assign ? scatter(g[0], dim, idx, 0.0) : g[0];
                        if (c.needs_input_grad(1)) r[1] = fit_to(gather(g[0], dim, idx), src_shape);
                        return r;
                      });
}

Tensor& scatter_inplace(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src, ScatterOp op,
                        const char* name) {
  detail::check_defined(x, name);
  const bool recording = autograd::needs_grad({&x, &src});
  autograd::check_inplace(x, name, recording);
  ScatterArgs a;
  {
    autograd::NoGradGuard no_grad;
    detail::check_writable(x, name);
    a = check_scatter(x, dim, index, src, name);
    run_scatter(a, op);
  }
  if (recording) record_scatter(x, src, a.index, a.dim, op, name);
  return x;
}

Tensor scatter_outplace(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src, ScatterOp op,
                        const char* name) {
  detail::check_defined(x, name);
  ScatterArgs a;
  {
    autograd::NoGradGuard no_grad;
    a = check_scatter(x, dim, index, src, name);
  }
  Tensor out = x.clone();  // differentiable: the scatter below records on top of it
  const bool recording = autograd::needs_grad({&out, &src});
  {
    autograd::NoGradGuard no_grad;
    a.x = at_least_1d(out);
    run_scatter(a, op);
  }
  if (recording) record_scatter(out, src, a.index, a.dim, op, name);
  return out;
}

}  // namespace

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index_in) {
  Tensor out, is;
  int d = 0;
  {
    autograd::NoGradGuard no_grad;
    detail::check_same_device({&x, &index_in}, "gather");
    Tensor index = detail::index_as_i64(index_in, "gather");
    Tensor xs = at_least_1d(x);
    is = at_least_1d(index);
    MOELAB_CHECK(is.dim() == xs.dim(), "gather: index must have as many dims as the input (",
                 shapes_of(x, index_in), ")");
    d = wrap_dim(dim, xs.dim(), "gather");
    for (int k = 0; k < xs.dim(); ++k)
      MOELAB_CHECK(k == d || is.size(k) <= xs.size(k), "gather: index is larger than the input at dim ", k, " (",
                   shapes_of(x, index_in), ")");
    detail::check_index_range(is, xs.size(d), false, "gather", d, shapes_of(x, index_in));
    out = make_empty(index.shape(), x.dtype(), x.device());
    backend_of(x).index().gather(at_least_1d(out), xs, d, is);
  }
  if (autograd::needs_grad({&x})) {
    // d x = g summed into zeros at the gathered positions.
    const Shape xs = x.shape();
    autograd::record_op("gather", {&x}, {&out}, {autograd::SavedVariable(is, false)},
                        [xs, d](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
                          return std::vector<Tensor>{scatter_add(zeros(xs, options_of(g[0])), d, c.saved(0), g[0])};
                        });
  }
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

namespace {

// The backward of scatter_reduce (PyTorch's formulas): "sum" and "mean" pass g through (divided by
// the count for "mean"); "amax"/"amin" split g evenly among the elements equal to the result.
// Without include_self, the scattered positions of x get no gradient.
std::vector<Tensor> scatter_reduce_backward(autograd::FunctionNode::Context& c, const Tensor& g, int dim,
                                            std::string_view reduce, bool include_self, const Shape& src_shape) {
  std::vector<Tensor> r(2);
  const Tensor idx = c.saved(0);
  if (reduce == "sum") {
    if (c.needs_input_grad(0)) r[0] = g;
    if (c.needs_input_grad(1)) r[1] = fit_to(gather(g, dim, idx), src_shape);
  } else if (reduce == "mean") {
    Tensor n;
    {
      autograd::NoGradGuard no_grad;  // the counts are constants
      n = include_self ? ones_like(g) : zeros_like(g);
      n = scatter_add(n, dim, idx, ones(idx.shape(), options_of(g)));
      n = where(n == 0, ones_like(n), n);
    }
    if (c.needs_input_grad(0)) r[0] = g / n;
    if (c.needs_input_grad(1)) r[1] = fit_to(gather(g, dim, idx) / gather(n, dim, idx), src_shape);
  } else {  // amax, amin
    const Tensor x = c.saved(1), out = c.saved(2);
    Tensor self_is, src_is, share;
    {
      autograd::NoGradGuard no_grad;
      Tensor src = at_least_1d(c.saved(3));
      for (int k = 0; k < idx.dim(); ++k) src = src.narrow(k, 0, idx.size(k));
      self_is = (x == out).to(g.dtype());
      src_is = (src == gather(out, dim, idx)).to(g.dtype());
      share = scatter_add(self_is, dim, idx, src_is);  // how many elements reached the result
    }
    Tensor gd = g / share;
    if (c.needs_input_grad(0)) r[0] = gd * self_is;
    if (c.needs_input_grad(1)) r[1] = fit_to(gather(gd, dim, idx) * src_is, src_shape);
  }
  if (!include_self && r[0].defined()) r[0] = scatter(r[0], dim, idx, 0.0);
  return r;
}

}  // namespace

Tensor scatter_reduce(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src,
                      std::string_view reduce, bool include_self) {
  const char* op = "scatter_reduce";
  detail::check_defined(x, op);
  const bool recording = autograd::needs_grad({&x, &src});
  Tensor out;
  ScatterArgs a;
  {
    autograd::NoGradGuard no_grad;
    ScatterOp sop = ScatterOp::Add;
    const bool mean = reduce == "mean";
    if (reduce == "prod") sop = ScatterOp::Mul;
    else if (reduce == "amax") sop = ScatterOp::Max;
    else if (reduce == "amin") sop = ScatterOp::Min;
    else MOELAB_CHECK(reduce == "sum" || mean, op, ": reduce must be one of sum, prod, mean, amax, amin; got \"",
                      reduce, "\"");
    MOELAB_CHECK(!(recording && sop == ScatterOp::Mul), op,
                 ": the gradient of reduce=\"prod\" is not implemented (inputs of shapes ", x.shape(), " and ",
                 src.shape(), " require grad); use sum, mean, amax or amin, or detach the inputs");
    MOELAB_CHECK(x.dtype() != kBool && x.dtype() != kBF16 && x.dtype() != kF16, op, ": dtype ", x.dtype(),
                 " is not supported");
    a = check_scatter(x, dim, index, src, op);
    out = x.clone();
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
    if (mean) {
      // mean = sum / count, where count includes x's own element when include_self.
      Tensor count = include_self ? ones_like(out) : zeros_like(out);
      run_scatter({at_least_1d(count), a.index, scalar_source(count, a.index, 1), a.dim}, ScatterOp::Add);
      count = where(count == 0, ones_like(count), count);
      if (is_floating(x.dtype())) out = out / count;
      else out = floor(out.to(kF64) / count.to(kF64)).to(x.dtype());  // integers round down, as in PyTorch
    }
  }
  if (recording) {
    const bool minmax = reduce == "amax" || reduce == "amin";
    std::vector<autograd::SavedVariable> saved{autograd::SavedVariable(a.index, false)};
    if (minmax) {
      saved.emplace_back(x, false);
      saved.emplace_back(out, true);
      saved.emplace_back(src, false);
    }
    const std::string red(reduce);
    const Shape src_shape = src.shape();
    const int d = a.dim;
    autograd::record_op(op, {&x, &src}, {&out}, std::move(saved),
                        [red, include_self, src_shape, d](autograd::FunctionNode::Context& c,
                                                          const std::vector<Tensor>& g) {
                          return scatter_reduce_backward(c, g[0], d, red, include_self, src_shape);
                        });
  }
  return out;
}

// ---- along one dim with a 1-D index ----

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index_in) {
  const char* op = "index_select";
  Tensor out, index;
  int d = 0;
  {
    autograd::NoGradGuard no_grad;
    detail::check_same_device({&x, &index_in}, op);
    index = detail::index_as_i64(index_in, op);
    MOELAB_CHECK(index.dim() <= 1, op, ": index must be 0-d or 1-d (", shapes_of(x, index_in), ")");
    if (x.dim() == 0) {  // PyTorch: a 0-d input takes index 0 only and stays 0-d
      wrap_dim(dim, 1, op);
      detail::check_index_range(index, 1, false, op, 0, shapes_of(x, index_in));
    } else {
      d = wrap_dim(dim, x.dim(), op);
      detail::check_index_range(index, x.size(d), false, op, d, shapes_of(x, index_in));
      Shape s = x.shape();
      s[d] = index.numel();
      out = make_empty(s, x.dtype(), x.device());
      const Tensor idx[] = {index.reshape({-1})};
      backend_of(x).index().index(detail::move_to_front(out, d), detail::move_to_front(x, d), idx);
    }
  }
  if (x.dim() == 0) return x.clone();  // differentiable as it is
  if (autograd::needs_grad({&x})) {
    // d x = g summed into zeros at the selected slices.
    const Shape xs = x.shape();
    autograd::record_op(op, {&x}, {&out}, {autograd::SavedVariable(index, false)},
                        [xs, d](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
                          return std::vector<Tensor>{index_add(zeros(xs, options_of(g[0])), d, c.saved(0), g[0])};
                        });
  }
  return out;
}

namespace {

// x.select(dim, index[j]) = (or +=) values.select(dim, j), in place; `op` names the public op.
// Under autograd x takes the new history: d x = g (with the written slices zeroed unless
// accumulating), d src = alpha * g selected at the index.
Tensor& index_put_along(Tensor& x, int64_t dim, const Tensor& index_in, const Tensor& src, Scalar alpha,
                        bool accumulate, const char* op, const Tensor* check_x = nullptr) {
  const bool recording = autograd::needs_grad({&x, &src});
  autograd::check_inplace(x, op, recording);
  Tensor index;
  int d = 0;
  {
    autograd::NoGradGuard no_grad;
    detail::check_same_device({&x, &index_in, &src}, op);
    const Tensor& shown = check_x ? *check_x : x;  // the user's tensor, for messages
    index = detail::index_as_i64(index_in, op);
    MOELAB_CHECK(index.dim() <= 1, op, ": index must be 0-d or 1-d (", shapes_of(shown, index_in, src), ")");
    MOELAB_CHECK(src.dtype() == x.dtype(), op, ": source has dtype ", src.dtype(), " but the input has ",
                 x.dtype());
    Tensor xs = at_least_1d(x), ss = at_least_1d(src);
    d = wrap_dim(dim, xs.dim(), op);
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
  }
  if (recording) {
    const Shape src_shape = src.shape();
    const double a = accumulate ? alpha.to_double() : 1.0;
    autograd::record_op(op, {&x, &src}, {&x}, {autograd::SavedVariable(index, false)},
                        [src_shape, d, a, accumulate](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
                          std::vector<Tensor> r(2);
                          Tensor idx = c.saved(0);
                          if (c.needs_input_grad(0))
                            r[0] = accumulate ? g[0] : index_copy(g[0], d, idx, zeros(src_shape, options_of(g[0])));
                          if (c.needs_input_grad(1)) {
                            r[1] = index_select(g[0], d, idx).reshape(src_shape);
                            if (a != 1.0) r[1] = r[1] * a;
                          }
                          return r;
                        });
  }
  return x;
}

}  // namespace

Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src, Scalar alpha) {
  detail::check_defined(x, "index_add");
  Tensor out = x.clone();  // differentiable: the in-place add records on top of it
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
