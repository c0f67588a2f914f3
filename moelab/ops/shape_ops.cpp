// cat, stack, split, chunk, repeat, repeat_interleave, flip and roll: each is a view of the input
// (or of the output) plus one strided, casting copy through the elementwise `copy` primitive.
// Backward: cat splits g (narrow views), repeat sums over the tiles, flip flips g; stack, split,
// chunk, repeat_interleave and roll are made of differentiable ops already.
#include "moelab/ops/shape_ops.h"

#include <numeric>

#include "moelab/autograd/function.h"
#include "moelab/backends/elementwise_kernels.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/index_helpers.h"
#include "moelab/ops/indexing.h"
#include "moelab/ops/op_helpers.h"
#include "moelab/ops/reduce.h"

namespace moelab {
using detail::backend_of;

namespace {
void copy_into(const Tensor& dst, const Tensor& src) { backend_of(dst).elementwise().copy(dst, src); }
}  // namespace

// ---- cat / stack ----

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  MOELAB_CHECK(!tensors.empty(), "cat: expected a non-empty list of tensors");
  const Tensor* ref = nullptr;  // the first tensor that is not a legacy 1-D empty one
  DType dtype = tensors[0].defined() ? tensors[0].dtype() : kF32;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    MOELAB_CHECK(t.defined(), "cat: tensor ", i, " is undefined");
    detail::check_same_device({&tensors[0], &t}, "cat");
    MOELAB_CHECK(t.dim() > 0, "cat: tensor ", i, " is 0-d and cannot be concatenated");
    dtype = promote_types(dtype, t.dtype());
    if (!ref && !(t.dim() == 1 && t.size(0) == 0)) ref = &t;
  }
  if (!ref) return make_empty({0}, dtype, tensors[0].device());
  const int d = wrap_dim(dim, ref->dim(), "cat");
  Shape out_shape = ref->shape();
  out_shape[d] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (t.dim() == 1 && t.size(0) == 0) continue;
    bool ok = t.dim() == ref->dim();
    for (int k = 0; ok && k < t.dim(); ++k) ok = k == d || t.size(k) == ref->size(k);
    MOELAB_CHECK(ok, "cat: sizes must match except in dim ", d, ", but tensor ", i, " has shape ", t.shape(),
                 " and the first has ", ref->shape());
    out_shape[d] += t.size(d);
  }
  Tensor out = make_empty(out_shape, dtype, ref->device());
  std::vector<int64_t> starts;  // where each input begins along d (-1: a skipped legacy empty one)
  int64_t at = 0;
  for (const Tensor& t : tensors) {
    if (t.dim() == 1 && t.size(0) == 0) {
      starts.push_back(-1);
      continue;
    }
    starts.push_back(at);
    if (t.size(d) == 0) continue;
    copy_into(out.narrow(d, at, t.size(d)), t);
    at += t.size(d);
  }
  if (autograd::needs_grad(tensors)) {
    // Each input's gradient is its slice of g, converted back to its dtype.
    std::vector<int64_t> sizes;
    std::vector<DType> dtypes;
    for (const Tensor& t : tensors) {
      sizes.push_back(t.dim() > d ? t.size(d) : 0);
      dtypes.push_back(t.dtype());
    }
    autograd::record_op("cat", tensors, {&out}, {},
                        [starts, sizes, dtypes, d](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
                          std::vector<Tensor> r(starts.size());
                          for (size_t i = 0; i < starts.size(); ++i) {
                            if (!c.needs_input_grad(i)) continue;
                            r[i] = starts[i] < 0 ? zeros({0}, TensorOptions(dtypes[i], g[0].device()))
                                                 : g[0].narrow(d, starts[i], sizes[i]).to(dtypes[i]);
                          }
                          return r;
                        });
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  MOELAB_CHECK(!tensors.empty(), "stack: expected a non-empty list of tensors");
  detail::check_defined(tensors[0], "stack");
  const int d = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> parts;
  for (size_t i = 0; i < tensors.size(); ++i) {
    detail::check_defined(tensors[i], "stack");
    MOELAB_CHECK(tensors[i].shape() == tensors[0].shape(), "stack: all tensors must have one shape, but tensor ",
                 i, " has ", tensors[i].shape(), " and the first ", tensors[0].shape());
    parts.push_back(tensors[i].unsqueeze(d));
  }
  return cat(parts, d);
}

// ---- split / chunk ----

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  detail::check_defined(x, "split");
  MOELAB_CHECK(x.dim() > 0, "split: cannot split a 0-d tensor");
  const int d = wrap_dim(dim, x.dim(), "split");
  const int64_t n = x.size(d);
  MOELAB_CHECK(split_size > 0 || (split_size == 0 && n == 0), "split: split_size must be positive, got ",
               split_size, " (shape ", x.shape(), ")");
  std::vector<Tensor> parts;
  if (n == 0) return {x};
  for (int64_t at = 0; at < n; at += split_size) parts.push_back(x.narrow(d, at, std::min(split_size, n - at)));
  return parts;
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& split_sizes, int64_t dim) {
  return split_with_sizes(x, split_sizes, dim);
}

std::vector<Tensor> split_with_sizes(const Tensor& x, const std::vector<int64_t>& split_sizes, int64_t dim) {
  detail::check_defined(x, "split_with_sizes");
  MOELAB_CHECK(x.dim() > 0, "split_with_sizes: cannot split a 0-d tensor");
  const int d = wrap_dim(dim, x.dim(), "split_with_sizes");
  int64_t total = 0;
  for (int64_t s : split_sizes) {
    MOELAB_CHECK(s >= 0, "split_with_sizes: sizes must be non-negative, got ", Dims(split_sizes));
    total += s;
  }
  MOELAB_CHECK(total == x.size(d), "split_with_sizes: sizes ", Dims(split_sizes), " sum to ", total,
               " but dim ", d, " has size ", x.size(d), " (shape ", x.shape(), ")");
  std::vector<Tensor> parts;
  int64_t at = 0;
  for (int64_t s : split_sizes) {
    parts.push_back(x.narrow(d, at, s));
    at += s;
  }
  return parts;
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  detail::check_defined(x, "chunk");
  MOELAB_CHECK(x.dim() > 0, "chunk: cannot chunk a 0-d tensor");
  MOELAB_CHECK(chunks > 0, "chunk: chunks must be positive, got ", chunks);
  const int d = wrap_dim(dim, x.dim(), "chunk");
  const int64_t n = x.size(d);
  if (n == 0) return std::vector<Tensor>(static_cast<size_t>(chunks), x);  // PyTorch: `chunks` empty views
  return split(x, (n + chunks - 1) / chunks, d);
}

// ---- repeat / repeat_interleave ----

namespace {
Tensor repeat_forward(const Tensor& x, const std::vector<int64_t>& repeats);
}  // namespace

Tensor repeat(const Tensor& x, const std::vector<int64_t>& repeats) {
  Tensor out;
  {
    autograd::NoGradGuard no_grad;
    out = repeat_forward(x, repeats);
  }
  if (autograd::needs_grad({&x})) {
    // d x = g summed over the tiles: split each repeated dim into (repeats, size) and sum the first.
    const Shape xs = x.shape();
    const int lead = static_cast<int>(repeats.size()) - x.dim();
    autograd::record_op("repeat", {&x}, {&out}, {},
                        [xs, repeats, lead](autograd::FunctionNode::Context&, const std::vector<Tensor>& g) {
                          Tensor r = g[0];
                          for (int i = 0; i < static_cast<int>(repeats.size()); ++i) {
                            const int64_t rep = repeats[static_cast<size_t>(i)];
                            if (rep == 1) continue;
                            // [before, rep * size, after] -> [before, rep, size, after], summed over rep
                            // (four dims whatever the rank, so kMaxDims is never exceeded).
                            Shape s = r.shape();
                            const int64_t size = i < lead ? 1 : xs[i - lead];
                            int64_t before = 1, after = 1;
                            for (int k = 0; k < i; ++k) before *= s[k];
                            for (int k = i + 1; k < s.size(); ++k) after *= s[k];
                            s[i] = size;
                            r = sum(r.reshape({before, rep, size, after}), {1}).reshape(s);
                          }
                          return std::vector<Tensor>{r.reshape(xs)};
                        });
  }
  return out;
}

namespace {
Tensor repeat_forward(const Tensor& x, const std::vector<int64_t>& repeats) {
  detail::check_defined(x, "repeat");
  const int nr = static_cast<int>(repeats.size());
  MOELAB_CHECK(nr >= x.dim(), "repeat: ", nr, " repeat counts for a tensor of ", x.dim(), " dims (shape ",
               x.shape(), "); need at least one per dim");
  MOELAB_CHECK(nr <= kMaxDims, "repeat: too many repeat counts (", nr, ")");
  Shape src_shape, out_shape;
  Strides src_strides;
  const int lead = nr - x.dim();
  for (int i = 0; i < nr; ++i) {
    const int64_t r = repeats[static_cast<size_t>(i)];
    MOELAB_CHECK(r >= 0, "repeat: repeat counts must be non-negative, got ", Dims(repeats));
    const int64_t s = i < lead ? 1 : x.size(i - lead);
    src_shape.push_back(s);
    src_strides.push_back(i < lead ? 0 : x.stride(i - lead));
    out_shape.push_back(s * r);
  }
  Tensor out = make_empty(out_shape, x.dtype(), x.device());
  if (out.numel() == 0) return out;
  // Output index q * s + p along each dim reads input index p: view the output as [.., q, p, ..]
  // (dropping q or p where its size is 1) and the input as the same shape with stride 0 on q.
  int view_dims = 0;
  for (int i = 0; i < nr; ++i) view_dims += (repeats[static_cast<size_t>(i)] != 1) + (src_shape[i] != 1);
  if (view_dims > kMaxDims) {  // too many dims for one view: tile one dim at a time
    Tensor t = x.reshape(src_shape);
    for (int i = 0; i < nr; ++i) {
      const int64_t r = repeats[static_cast<size_t>(i)];
      if (r != 1) t = cat(std::vector<Tensor>(static_cast<size_t>(r), t), i);
    }
    return t;
  }
  Shape vs;
  Strides out_st, in_st;
  const Strides dense = out.strides();
  for (int i = 0; i < nr; ++i) {
    const int64_t r = repeats[static_cast<size_t>(i)], s = src_shape[i];
    if (r != 1) {
      vs.push_back(r);
      out_st.push_back(s * dense[i]);
      in_st.push_back(0);
    }
    if (s != 1) {
      vs.push_back(s);
      out_st.push_back(dense[i]);
      in_st.push_back(src_strides[i]);
    }
  }
  copy_into(out.as_strided(vs, out_st, 0), x.as_strided(vs, in_st, x.offset()));
  return out;
}
}  // namespace

Tensor repeat_interleave(const Tensor& x, int64_t repeats, std::optional<int64_t> dim) {
  detail::check_defined(x, "repeat_interleave");
  MOELAB_CHECK(repeats >= 0, "repeat_interleave: repeats must be non-negative, got ", repeats);
  Tensor in = dim ? x : x.reshape({-1});
  MOELAB_CHECK(in.dim() > 0, "repeat_interleave: dim ", *dim, " is out of range for a 0-d tensor");
  const int d = wrap_dim(dim.value_or(0), in.dim(), "repeat_interleave");
  Shape expanded = in.shape();
  expanded.insert(d + 1, repeats);
  Shape out_shape = in.shape();
  out_shape[d] *= repeats;
  return in.unsqueeze(d + 1).expand(expanded).contiguous().view(out_shape);
}

Tensor repeat_interleave(const Tensor& repeats) {
  Tensor r = detail::index_as_i64(repeats, "repeat_interleave", "repeats");
  MOELAB_CHECK(r.dim() <= 1, "repeat_interleave: repeats must be 0-d or 1-d, got shape ", r.shape());
  std::vector<int64_t> counts = r.to_vector<int64_t>();
  std::vector<int64_t> idx;
  for (size_t i = 0; i < counts.size(); ++i) {
    MOELAB_CHECK(counts[i] >= 0, "repeat_interleave: repeats must be non-negative, got ", counts[i], " at ", i);
    idx.insert(idx.end(), static_cast<size_t>(counts[i]), static_cast<int64_t>(i));
  }
  return from_vector(idx).to(repeats.device());
}

Tensor repeat_interleave(const Tensor& x, const Tensor& repeats, std::optional<int64_t> dim) {
  detail::check_defined(x, "repeat_interleave");
  detail::check_same_device({&x, &repeats}, "repeat_interleave");
  Tensor in = dim ? x : x.reshape({-1});
  MOELAB_CHECK(in.dim() > 0, "repeat_interleave: dim ", *dim, " is out of range for a 0-d tensor");
  const int d = wrap_dim(dim.value_or(0), in.dim(), "repeat_interleave");
  Tensor r = detail::index_as_i64(repeats, "repeat_interleave", "repeats");
  MOELAB_CHECK(r.dim() <= 1 && (r.numel() == 1 || r.numel() == in.size(d)), "repeat_interleave: repeats of shape ",
               r.shape(), " must hold one count or one per slice of dim ", d, " (input shape ", in.shape(), ")");
  if (r.numel() == 1) return repeat_interleave(x, r.reshape({}).item<int64_t>(), dim);
  return index_select(in, d, repeat_interleave(r));
}

// ---- flip / roll ----

Tensor flip(const Tensor& x, const Dims& dims) {
  detail::check_defined(x, "flip");
  const uint32_t mask = dims.empty() ? 0u : detail::dim_mask(dims, x.dim(), "flip");
  Strides st = x.strides();
  int64_t offset = x.offset();
  for (int d = 0; d < x.dim(); ++d) {
    if (!(mask >> d & 1u) || x.size(d) == 0) continue;
    offset += (x.size(d) - 1) * st[d];  // start at the last element and walk backwards
    st[d] = -st[d];
  }
  Tensor out = make_empty(x.shape(), x.dtype(), x.device());
  {
    autograd::NoGradGuard no_grad;
    copy_into(out, x.as_strided(x.shape(), st, offset));
  }
  if (autograd::needs_grad({&x}))  // d x = g flipped back
    autograd::record_op("flip", {&x}, {&out}, {},
                        [dims](autograd::FunctionNode::Context&, const std::vector<Tensor>& g) {
                          return std::vector<Tensor>{flip(g[0], dims)};
                        });
  return out;
}

Tensor roll(const Tensor& x, const std::vector<int64_t>& shifts, const Dims& dims) {
  detail::check_defined(x, "roll");
  if (dims.empty()) {
    MOELAB_CHECK(shifts.size() == 1, "roll: without dims, expected one shift, got ", Dims(shifts));
    return roll(x.reshape({-1}), shifts, {0}).view(x.shape());
  }
  MOELAB_CHECK(static_cast<int>(shifts.size()) == dims.size(), "roll: ", shifts.size(), " shifts for ",
               dims.size(), " dims");
  Tensor t = x;
  bool copied = false;
  for (int i = 0; i < dims.size(); ++i) {
    const int d = wrap_dim(dims[i], x.dim(), "roll");
    const int64_t n = x.size(d);
    if (n == 0) continue;
    const int64_t s = ((shifts[static_cast<size_t>(i)] % n) + n) % n;
    if (s == 0) continue;
    t = cat({t.narrow(d, n - s, s), t.narrow(d, 0, n - s)}, d);  // the tail moves to the front
    copied = true;
  }
  return copied ? t : x.clone();
}

}  // namespace moelab
