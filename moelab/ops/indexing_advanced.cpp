// Advanced indexing (index, index_put), masks, nonzero, one_hot and embedding, all composed from
// the IndexKernels primitives `index`, `index_put`, `scatter` and `nonzero`. Backward: index and
// index_put are each other's adjoints; masked_select is index with a bool mask; masked_fill is a
// `where`; embedding's weight gradient is an index_add of the output gradient's rows.
#include <sstream>

#include "moelab/autograd/function.h"
#include "moelab/backends/elementwise_kernels.h"
#include "moelab/backends/index_kernels.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/index_helpers.h"
#include "moelab/ops/indexing.h"
#include "moelab/ops/op_helpers.h"
#include "moelab/ops/reduce.h"

namespace moelab {
using detail::backend_of;
using detail::concat;

namespace {

std::string shapes_of(const Tensor& x, const std::vector<Tensor>& indices) {
  std::ostringstream os;
  os << "input shape " << x.shape() << ", index shapes [";
  for (size_t k = 0; k < indices.size(); ++k) os << (k ? ", " : "") << indices[k].shape();
  os << "]";
  return os.str();
}

// Advanced indices, checked and flattened: each is a 1-D i64 tensor over the broadcast index shape.
struct AdvancedIndex {
  std::vector<Tensor> flat;
  Shape index_shape;  // the broadcast shape B of the index tensors
  Shape rest;         // x.shape() past the indexed dims
};

AdvancedIndex check_advanced(const Tensor& x, const std::vector<Tensor>& indices, const char* op) {
  detail::check_defined(x, op);
  MOELAB_CHECK(!indices.empty(), op, ": expected at least one index tensor");
  std::vector<Tensor> idx;  // bool masks replaced by their nonzero coordinates
  for (const Tensor& t : indices) {
    detail::check_defined(t, op, "index");
    detail::check_same_device({&x, &t}, op);
    if (t.dtype() == kBool) {
      MOELAB_CHECK(t.dim() > 0, op, ": a 0-d bool index is not supported (", shapes_of(x, indices), ")");
      const int at = static_cast<int>(idx.size());
      bool fits = at + t.dim() <= x.dim();
      for (int d = 0; fits && d < t.dim(); ++d) fits = t.size(d) == x.size(at + d);
      MOELAB_CHECK(fits, op, ": a bool index of shape ", t.shape(), " must match the input's dims ", at, "..",
                   at + t.dim() - 1, " (", shapes_of(x, indices), ")");
      Tensor nz = nonzero(t);
      for (int d = 0; d < t.dim(); ++d) idx.push_back(nz.select(1, d));
    } else {
      idx.push_back(detail::index_as_i64(t, op));
    }
  }
  MOELAB_CHECK(static_cast<int>(idx.size()) <= x.dim(), op, ": too many indices (", idx.size(),
               ") for an input of ", x.dim(), " dims (", shapes_of(x, indices), ")");
  AdvancedIndex a;
  a.index_shape = idx[0].shape();
  for (const Tensor& t : idx) a.index_shape = broadcast_shapes(a.index_shape, t.shape(), op);
  for (int k = 0; k < static_cast<int>(idx.size()); ++k)
    detail::check_index_range(idx[static_cast<size_t>(k)], x.size(k), true, op, k, shapes_of(x, indices));
  for (int d = static_cast<int>(idx.size()); d < x.dim(); ++d) a.rest.push_back(x.size(d));
  for (const Tensor& t : idx) a.flat.push_back(t.expand(a.index_shape).reshape({-1}));
  return a;
}

// [n, rest...]: the index shape flattened to one dim in front of the trailing dims.
Shape rows_shape(const AdvancedIndex& a) {
  Shape s = a.rest;
  s.insert(0, numel_of(a.index_shape));
  return s;
}
Shape result_shape(const AdvancedIndex& a) {
  Shape s = a.index_shape;
  for (int64_t r : a.rest) s.push_back(r);
  return s;
}

}  // namespace

namespace {
std::vector<autograd::SavedVariable> save_all(const std::vector<Tensor>& ts) {
  std::vector<autograd::SavedVariable> saved;
  for (const Tensor& t : ts) saved.emplace_back(t, false);
  return saved;
}
std::vector<Tensor> unpack_all(autograd::FunctionNode::Context& c, size_t n) {
  std::vector<Tensor> ts;
  for (size_t k = 0; k < n; ++k) ts.push_back(c.saved(k));
  return ts;
}
}  // namespace

Tensor index(const Tensor& x, const std::vector<Tensor>& indices) {
  AdvancedIndex a;
  Tensor out;
  {
    autograd::NoGradGuard no_grad;
    a = check_advanced(x, indices, "index");
    out = make_empty(result_shape(a), x.dtype(), x.device());
    backend_of(x).index().index(out.view(rows_shape(a)), x, a.flat);
  }
  if (autograd::needs_grad({&x})) {
    // d x = g accumulated into zeros at the indexed positions (the flat indices: masks resolved).
    const Shape xs = x.shape(), rows = rows_shape(a);
    const size_t n = a.flat.size();
    autograd::record_op("index", {&x}, {&out}, save_all(a.flat),
                        [xs, rows, n](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
                          Tensor z = zeros(xs, TensorOptions(g[0].dtype(), g[0].device()));
                          return std::vector<Tensor>{index_put(z, unpack_all(c, n), g[0].reshape(rows), true)};
                        });
  }
  return out;
}

Tensor& index_put_(Tensor& x, const std::vector<Tensor>& indices, const Tensor& values, bool accumulate) {
  const char* op = "index_put_";
  const bool recording = autograd::needs_grad({&x, &values});
  autograd::check_inplace(x, op, recording);
  AdvancedIndex a;
  {
    autograd::NoGradGuard no_grad;
    a = check_advanced(x, indices, op);
    detail::check_defined(values, op, "values");
    detail::check_same_device({&x, &values}, op);
    MOELAB_CHECK(values.dtype() == x.dtype(), op, ": values have dtype ", values.dtype(), " but the input has ",
                 x.dtype(), "; they must match");
    const Shape target = result_shape(a);
    bool fits = values.dim() <= target.size();
    for (int i = 0; fits && i < values.dim(); ++i) {
      int64_t v = values.size(values.dim() - 1 - i), t = target[target.size() - 1 - i];
      fits = v == t || v == 1;
    }
    MOELAB_CHECK(fits, op, ": values of shape ", values.shape(), " do not broadcast to the indexed shape ", target,
                 " (", shapes_of(x, indices), ")");
    detail::check_writable(x, op);
    backend_of(x).index().index_put(x, a.flat, values.expand(target).reshape(rows_shape(a)), accumulate);
    x.storage()->bump_version();
  }
  if (recording) {
    // d x = g, with the written positions zeroed unless accumulating; d values = g at the indexed
    // positions, summed over the dims values was broadcast along.
    const Shape target = result_shape(a), vs = values.shape();
    const size_t n = a.flat.size();
    autograd::record_op(op, {&x, &values}, {&x}, save_all(a.flat),
                        [target, vs, n, accumulate](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
                          std::vector<Tensor> r(2);
                          std::vector<Tensor> idx = unpack_all(c, n);
                          if (c.needs_input_grad(0))
                            r[0] = accumulate ? g[0]
                                              : index_put(g[0], idx, zeros({}, TensorOptions(g[0].dtype(), g[0].device())));
                          if (c.needs_input_grad(1)) r[1] = sum_to(index(g[0], idx).reshape(target), vs);
                          return r;
                        });
  }
  return x;
}

Tensor index_put(const Tensor& x, const std::vector<Tensor>& indices, const Tensor& values, bool accumulate) {
  detail::check_defined(x, "index_put");
  Tensor out = x.clone();
  return index_put_(out, indices, values, accumulate);
}

// ---- masks ----

namespace {
void check_mask(const Tensor& x, const Tensor& mask, const char* op) {
  detail::check_defined(x, op);
  detail::check_defined(mask, op, "mask");
  detail::check_same_device({&x, &mask}, op);
  MOELAB_CHECK(mask.dtype() == kBool, op, ": mask must be bool, got ", mask.dtype(), " (shape ", mask.shape(), ")");
}
}  // namespace

Tensor masked_fill(const Tensor& x, const Tensor& mask, Scalar value) {
  check_mask(x, mask, "masked_fill");
  return where(mask, full({}, value, TensorOptions(x.dtype(), x.device())), x);
}

Tensor& masked_fill_(Tensor& x, const Tensor& mask, Scalar value) {
  const char* op = "masked_fill_";
  const bool recording = autograd::needs_grad({&x});
  autograd::check_inplace(x, op, recording);
  {
    autograd::NoGradGuard no_grad;
    check_mask(x, mask, op);
    MOELAB_CHECK(broadcast_shapes(mask.shape(), x.shape(), op) == x.shape(), op, ": mask of shape ", mask.shape(),
                 " does not broadcast to the input's shape ", x.shape());
    detail::check_writable(x, op);
    Tensor v = full({}, value, TensorOptions(x.dtype(), x.device())).expand(x.shape());
    // Elementwise, so the output may alias the input it reads.
    backend_of(x).elementwise().where(x, mask.expand(x.shape()), v, x);
    x.storage()->bump_version();
  }
  if (recording)  // d x = g where the mask is false
    autograd::record_op(op, {&x}, {&x}, {autograd::SavedVariable(mask, false)},
                        [](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
                          Tensor z = zeros({}, TensorOptions(g[0].dtype(), g[0].device()));
                          return std::vector<Tensor>{where(c.saved(0), z, g[0])};
                        });
  return x;
}

Tensor masked_select(const Tensor& x, const Tensor& mask) {
  check_mask(x, mask, "masked_select");
  Shape s = broadcast_shapes(x.shape(), mask.shape(), "masked_select");
  if (s.empty()) s = {1};
  // x[mask] on the broadcast shape: differentiable through index (and expand).
  return index(x.expand(s), {mask.expand(s)});
}

Tensor nonzero(const Tensor& x) {
  detail::check_defined(x, "nonzero");
  MOELAB_CHECK(x.dtype() != kBF16 && x.dtype() != kF16, "nonzero: ", x.dtype(),
               " is a storage dtype on CPU; convert with .to(kF32) first");
  const int64_t n = x.numel() == 0 ? 0 : (x != 0).sum().item<int64_t>();
  Tensor out = make_empty({n, x.dim()}, kI64, x.device());
  backend_of(x).index().nonzero(out, x);
  return out;
}

// ---- lookups ----

Tensor one_hot(const Tensor& indices, int64_t num_classes) {
  const char* op = "one_hot";
  Tensor idx = detail::index_as_i64(indices, op, "indices");
  if (num_classes == -1) {
    MOELAB_CHECK(idx.numel() > 0, op, ": cannot infer the number of classes from an empty tensor (shape ",
                 idx.shape(), "); pass num_classes");
    num_classes = amax(idx).item<int64_t>() + 1;
  }
  MOELAB_CHECK(num_classes >= 0, op, ": num_classes must be -1 or non-negative, got ", num_classes);
  if (idx.numel() > 0) {
    const int64_t lo = amin(idx).item<int64_t>(), hi = amax(idx).item<int64_t>();
    MOELAB_CHECK(lo >= 0, op, ": class values must be non-negative, got ", lo, " (indices shape ", idx.shape(), ")");
    MOELAB_CHECK(hi < num_classes, op, ": class value ", hi, " is out of range for num_classes ", num_classes,
                 " (indices shape ", idx.shape(), ")");
  }
  Shape s = idx.shape();
  s.push_back(num_classes);
  Tensor out = zeros(s, TensorOptions(kI64, idx.device()));
  Tensor where_one = idx.unsqueeze(-1);
  backend_of(out).index().scatter(out, out.dim() - 1, where_one,
                                  full({}, 1, TensorOptions(kI64, idx.device())).expand(where_one.shape()),
                                  ScatterOp::Assign);
  return out;
}

Tensor embedding(const Tensor& weight, const Tensor& indices) {
  const char* op = "embedding";
  Tensor out, flat;
  {
    autograd::NoGradGuard no_grad;
    detail::check_defined(weight, op, "weight");
    detail::check_same_device({&weight, &indices}, op);
    MOELAB_CHECK(weight.dim() == 2, op, ": weight must be 2-D [num_embeddings, dim], got shape ", weight.shape());
    Tensor idx = detail::index_as_i64(indices, op, "indices");
    detail::check_index_range(idx, weight.size(0), false, op, 0,
                              concat("weight shape ", weight.shape(), ", indices shape ", idx.shape()));
    Shape s = idx.shape();
    s.push_back(weight.size(1));
    out = make_empty(s, weight.dtype(), weight.device());
    flat = idx.reshape({-1});
    const Tensor rows[] = {flat};
    backend_of(weight).index().index(out.view({idx.numel(), weight.size(1)}), weight, rows);
  }
  if (autograd::needs_grad({&weight})) {
    // d weight = the rows of g summed into zeros at their indices; the indices get no gradient.
    const Shape ws = weight.shape();
    const int64_t n = flat.numel();
    autograd::record_op(op, {&weight}, {&out}, {autograd::SavedVariable(flat, false)},
                        [ws, n](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
                          Tensor z = zeros(ws, TensorOptions(g[0].dtype(), g[0].device()));
                          return std::vector<Tensor>{index_add(z, 0, c.saved(0), g[0].reshape({n, ws[1]}))};
                        });
  }
  return out;
}

}  // namespace moelab
