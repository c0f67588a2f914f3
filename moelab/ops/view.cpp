// View ops: they share storage and only compute a new Layout (shape, strides, offset).
#include <numeric>

#include "moelab/autograd/function.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/reduce.h"
#include "moelab/ops/op_helpers.h"

namespace moelab {

namespace {

// The view primitive: a new TensorImpl on the same storage, bounds-checked. No autograd here;
// each public view op records its own backward below.
Tensor make_view(const Tensor& self, const Shape& shape, const Strides& strides, int64_t offset) {
  const Tensor& t = self;
  MOELAB_CHECK(shape.size() == strides.size(), "as_strided: shape ", shape, " and strides ", strides,
               " differ in length");
  // Every reachable element must lie inside the storage.
  int64_t lo = offset, hi = offset;
  bool empty = false;
  for (int d = 0; d < shape.size(); ++d) {
    MOELAB_CHECK(shape[d] >= 0, "as_strided: negative size in ", shape);
    if (shape[d] == 0) empty = true;
    int64_t span = (shape[d] - 1) * strides[d];
    (span < 0 ? lo : hi) += span;
  }
  int64_t cap = static_cast<int64_t>(t.storage()->nbytes() / t.element_size());
  MOELAB_CHECK(empty || (lo >= 0 && hi < cap), "as_strided: shape ", shape, " strides ", strides, " offset ",
               offset, " reach outside a storage of ", cap, " elements");
  auto impl = make_ref<TensorImpl>(t.storage(), shape, strides, offset, t.dtype());
  impl->set_is_view(true);
  return Tensor(std::move(impl));
}

// Records a view's backward, grad_in = backward(g, input_shape), written with differentiable ops.
template <class Backward>
Tensor record_view(const Tensor& in, Tensor out, const char* name, Backward backward) {
  if (autograd::needs_grad({&in})) {
    Shape s = in.shape();
    autograd::record_op(name, {&in}, {&out}, {},
                        [backward, s](autograd::FunctionNode::Context&, const std::vector<Tensor>& g) {
                          return std::vector<Tensor>{backward(g[0], s)};
                        });
  }
  return out;
}

Tensor reshape_back(const Tensor& g, const Shape& s) { return g.reshape(s); }

}  // namespace

Tensor Tensor::as_strided(const Shape& shape, const Strides& strides, int64_t offset) const {
  MOELAB_CHECK(!autograd::needs_grad({this}), "as_strided: not differentiable; use the view ops (view, slice, ",
               "select, permute, expand, ...), which are");
  return make_view(*this, shape, strides, offset);
}

namespace detail {
// The backward of slicing-like views: g placed into zeros of the input's shape at the view's
// position. Differentiable in g (its backward takes the same view of the incoming gradient).
template <class ViewFn>
Tensor embed_in_zeros(const Tensor& g, const Shape& s, const char* name, ViewFn view_fn) {
  Tensor z = zeros(s, {g.dtype(), g.device()});
  {
    autograd::NoGradGuard no_grad;
    Tensor region = view_fn(z);
    region.copy_(g);
  }
  if (autograd::needs_grad({&g}))
    autograd::record_op(name, {&g}, {&z}, {},
                        [view_fn](autograd::FunctionNode::Context&, const std::vector<Tensor>& gg) {
                          return std::vector<Tensor>{view_fn(gg[0])};
                        });
  return z;
}
}  // namespace detail

namespace {
// Replaces one -1 in a requested shape by the size that makes numel match.
Shape infer_shape(const Shape& req, int64_t numel, const char* op, const Shape& from) {
  Shape s = req;
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      MOELAB_CHECK(infer < 0, op, ": only one dimension can be -1 in ", req);
      infer = i;
    } else {
      MOELAB_CHECK(s[i] >= 0, op, ": invalid size ", s[i], " in ", req);
      known *= s[i];
    }
  }
  if (infer >= 0) {
    MOELAB_CHECK(known != 0 && numel % known == 0, op, ": shape ", req, " is invalid for input of shape ", from);
    s[infer] = numel / known;
  }
  MOELAB_CHECK(numel_of(s) == numel, op, ": shape ", req, " is invalid for input of shape ", from, " (",
               numel, " elements)");
  return s;
}

// Strides for viewing (shape, strides) as new_shape without copying, if possible (the algorithm of
// PyTorch's computeStride: match chunks of dims that are contiguous among themselves).
bool view_strides(const Shape& shape, const Strides& strides, const Shape& new_shape, Strides& out) {
  out = Dims::filled(new_shape.size(), 1);
  if (numel_of(shape) == 0 || shape.empty()) {
    out = contiguous_strides(new_shape);
    return true;
  }
  int view_d = new_shape.size() - 1;
  int64_t chunk_base_stride = strides.size() ? strides.back() : 1;
  int64_t tensor_numel = 1, view_numel = 1;
  for (int d = shape.size() - 1; d >= 0; --d) {
    tensor_numel *= shape[d];
    if (d == 0 || (shape[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= new_shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return false;
      if (d > 0) {
        chunk_base_stride = strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}
}  // namespace

Tensor Tensor::view(const Shape& shape) const {
  Shape s = infer_shape(shape, numel(), "view", this->shape());
  Strides st;
  MOELAB_CHECK(view_strides(this->shape(), strides(), s, st), "view: shape ", shape,
               " is not compatible with the input's strides ", strides(), " (shape ", this->shape(),
               "); use reshape");
  return record_view(*this, make_view(*this, s, st, offset()), "view", reshape_back);
}

Tensor Tensor::reshape(const Shape& shape) const {
  Shape s = infer_shape(shape, numel(), "reshape", this->shape());
  Strides st;
  if (view_strides(this->shape(), strides(), s, st))
    return record_view(*this, make_view(*this, s, st, offset()), "reshape", reshape_back);
  return contiguous().view(s);
}

Tensor Tensor::view_as(const Tensor& other) const { return view(other.shape()); }

Tensor Tensor::permute(const Dims& dims) const {
  MOELAB_CHECK(dims.size() == dim(), "permute: ", dims, " has ", dims.size(), " dims, the tensor ", dim());
  Shape s = shape();
  Strides st = strides();
  uint32_t seen = 0;
  for (int i = 0; i < dims.size(); ++i) {
    int d = wrap_dim(dims[i], dim(), "permute");
    MOELAB_CHECK(!(seen >> d & 1u), "permute: dim ", d, " repeats in ", dims);
    seen |= 1u << d;
    s[i] = shape()[d];
    st[i] = strides()[d];
  }
  Dims inverse = Dims::filled(dim(), 0);
  for (int i = 0; i < dims.size(); ++i) inverse[wrap_dim(dims[i], dim(), "permute")] = i;
  return record_view(*this, make_view(*this, s, st, offset()), "permute",
                     [inverse](const Tensor& g, const Shape&) { return g.permute(inverse); });
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  if (dim() == 0) return *this;
  int a = wrap_dim(d0, dim(), "transpose"), b = wrap_dim(d1, dim(), "transpose");
  Shape s = shape();
  Strides st = strides();
  std::swap(s[a], s[b]);
  std::swap(st[a], st[b]);
  return record_view(*this, make_view(*this, s, st, offset()), "transpose",
                     [a, b](const Tensor& g, const Shape&) { return g.transpose(a, b); });
}

Tensor Tensor::t() const {
  MOELAB_CHECK(dim() <= 2, "t: expects a tensor with at most 2 dims, got shape ", shape());
  return dim() < 2 ? *this : transpose(0, 1);
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  MOELAB_CHECK(dim() > 0, "narrow: cannot narrow a 0-d tensor");
  int w = wrap_dim(d, dim(), "narrow");
  int64_t n = shape()[w];
  if (start < 0) start += n;
  MOELAB_CHECK(start >= 0 && length >= 0 && start + length <= n, "narrow: start ", start, " length ", length,
               " out of range for dim ", w, " of size ", n, " (shape ", shape(), ")");
  Shape s = shape();
  s[w] = length;
  return record_view(*this, make_view(*this, s, strides(), offset() + start * strides()[w]), "narrow",
                     [w, start, length](const Tensor& g, const Shape& in) {
                       return detail::embed_in_zeros(g, in, "narrow_backward",
                                                     [=](const Tensor& z) { return z.narrow(w, start, length); });
                     });
}

Tensor Tensor::slice(int64_t d, std::optional<int64_t> start, std::optional<int64_t> stop, int64_t step) const {
  MOELAB_CHECK(dim() > 0, "slice: cannot slice a 0-d tensor");
  MOELAB_CHECK(step > 0, "slice: step must be positive, got ", step);
  int w = wrap_dim(d, dim(), "slice");
  int64_t n = shape()[w];
  // Python semantics: negative bounds count from the end, then clamp into [0, n].
  auto norm = [n](std::optional<int64_t> v, int64_t dflt) {
    int64_t x = v.value_or(dflt);
    if (x < 0) x += n;
    return std::clamp<int64_t>(x, 0, n);
  };
  int64_t b = norm(start, 0), e = norm(stop, n);
  int64_t len = e > b ? (e - b + step - 1) / step : 0;
  Shape s = shape();
  Strides st = strides();
  s[w] = len;
  st[w] *= step;
  return record_view(*this, make_view(*this, s, st, offset() + (len > 0 ? b * strides()[w] : 0)), "slice",
                     [w, b, e, step](const Tensor& g, const Shape& in) {
                       return detail::embed_in_zeros(g, in, "slice_backward",
                                                     [=](const Tensor& z) { return z.slice(w, b, e, step); });
                     });
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  MOELAB_CHECK(dim() > 0, "select: cannot select from a 0-d tensor");
  int w = wrap_dim(d, dim(), "select");
  int64_t n = shape()[w];
  MOELAB_CHECK(index >= -n && index < n, "select: index ", index, " is out of range for dim ", w,
               " of size ", n, " (shape ", shape(), ")");
  if (index < 0) index += n;
  Shape s = shape();
  Strides st = strides();
  s.erase(w);
  st.erase(w);
  return record_view(*this, make_view(*this, s, st, offset() + index * strides()[w]), "select",
                     [w, index](const Tensor& g, const Shape& in) {
                       return detail::embed_in_zeros(g, in, "select_backward",
                                                     [=](const Tensor& z) { return z.select(w, index); });
                     });
}

Tensor Tensor::index(std::initializer_list<TensorIndex> idx) const { return index(std::vector<TensorIndex>(idx)); }

Tensor Tensor::index(const std::vector<TensorIndex>& idx) const {
  int consumed = 0, ellipses = 0;
  for (const auto& i : idx) {
    if (std::holds_alternative<int64_t>(i.value()) || std::holds_alternative<indexing::Slice>(i.value()))
      ++consumed;
    if (std::holds_alternative<indexing::EllipsisT>(i.value())) ++ellipses;
  }
  MOELAB_CHECK(ellipses <= 1, "index: at most one Ellipsis");
  MOELAB_CHECK(consumed <= dim(), "index: too many indices (", consumed, ") for a tensor of shape ", shape());
  Tensor r = *this;
  int d = 0;  // current dim of r
  for (const auto& i : idx) {
    const auto& v = i.value();
    if (const auto* k = std::get_if<int64_t>(&v)) {
      r = r.select(d, *k);
    } else if (const auto* sl = std::get_if<indexing::Slice>(&v)) {
      r = r.slice(d, sl->start, sl->stop, sl->step);
      ++d;
    } else if (std::holds_alternative<indexing::NoneT>(v)) {
      r = r.unsqueeze(d);
      ++d;
    } else {
      d += dim() - consumed;  // the Ellipsis spans the dims no index names
    }
  }
  return r;
}

Tensor Tensor::expand(const Shape& shape) const {
  if (shape == this->shape()) return *this;
  MOELAB_CHECK(shape.size() >= dim(), "expand: target ", shape, " has fewer dims than the input ", this->shape());
  Shape s = shape;
  Strides st = Dims::filled(shape.size(), 0);
  int lead = shape.size() - dim();
  for (int i = 0; i < shape.size(); ++i) {
    int j = i - lead;
    if (j < 0) {
      MOELAB_CHECK(shape[i] >= 0, "expand: size -1 is not allowed for a new leading dim in ", shape);
      continue;
    }
    int64_t have = this->shape()[j];
    if (shape[i] == -1) s[i] = have;
    MOELAB_CHECK(s[i] == have || have == 1, "expand: the input's size ", have, " at dim ", j, " of ",
                 this->shape(), " cannot expand to ", shape[i], " (target ", shape, ")");
    st[i] = s[i] == have ? strides()[j] : 0;
  }
  return record_view(*this, make_view(*this, s, st, offset()), "expand",
                     [](const Tensor& g, const Shape& in) { return sum_to(g, in); });
}

Tensor Tensor::broadcast_to(const Shape& shape) const { return expand(shape); }
Tensor Tensor::expand_as(const Tensor& other) const { return expand(other.shape()); }

Tensor Tensor::squeeze() const {
  Shape s;
  Strides st;
  for (int d = 0; d < dim(); ++d)
    if (shape()[d] != 1) {
      s.push_back(shape()[d]);
      st.push_back(strides()[d]);
    }
  return record_view(*this, make_view(*this, s, st, offset()), "squeeze", reshape_back);
}

Tensor Tensor::squeeze(int64_t d) const {
  if (dim() == 0) return *this;
  int w = wrap_dim(d, dim(), "squeeze");
  if (shape()[w] != 1) return *this;
  Shape s = shape();
  Strides st = strides();
  s.erase(w);
  st.erase(w);
  return record_view(*this, make_view(*this, s, st, offset()), "squeeze", reshape_back);
}

Tensor Tensor::unsqueeze(int64_t d) const {
  int w = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape s = shape();
  Strides st = strides();
  int64_t stride = w < dim() ? strides()[w] * shape()[w] : 1;
  s.insert(w, 1);
  st.insert(w, stride);
  return record_view(*this, make_view(*this, s, st, offset()), "unsqueeze", reshape_back);
}

Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  int a = wrap_dim(start_dim, dim(), "flatten"), b = wrap_dim(end_dim, dim(), "flatten");
  MOELAB_CHECK(a <= b, "flatten: start_dim ", a, " is after end_dim ", b);
  Shape s;
  for (int d = 0; d < a; ++d) s.push_back(shape()[d]);
  int64_t n = 1;
  for (int d = a; d <= b; ++d) n *= shape()[d];
  s.push_back(n);
  for (int d = b + 1; d < dim(); ++d) s.push_back(shape()[d]);
  return reshape(s);
}

Tensor Tensor::unflatten(int64_t d, const Shape& sizes) const {
  int w = wrap_dim(d, dim(), "unflatten");
  Shape inner = infer_shape(sizes, shape()[w], "unflatten", shape());
  Shape s;
  for (int i = 0; i < w; ++i) s.push_back(shape()[i]);
  for (int64_t x : inner) s.push_back(x);
  for (int i = w + 1; i < dim(); ++i) s.push_back(shape()[i]);
  return view(s);
}

}  // namespace moelab
