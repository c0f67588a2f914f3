// Indexing ops with PyTorch's names, argument order and semantics: gather/scatter along a dim,
// index_select/index_add/index_copy, advanced indexing (index, index_put), masks, nonzero,
// one_hot and embedding.
//
// Index tensors are i64 (i32 is accepted too). Every index is checked before anything is written;
// an out-of-range index throws moelab::Error naming the op, the value, the dim size and the shapes.
// As in PyTorch, gather/scatter/index_select/index_add/index_copy/embedding reject negative
// indices, while index/index_put (advanced indexing) count negative indices from the end.
// In-place variants (trailing underscore) write through the input's strides, bump its storage
// version and return it.
#pragma once
#include <string_view>
#include <vector>

#include "moelab/core/tensor.h"

namespace moelab {

// ---- along one dim, index of the same rank as x ----
// out[i][j][k] = x[i][index[i][j][k]][k] for dim = 1.
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
// A copy of x with x[i][index[i][j][k]][k] = src[i][j][k] for dim = 1 (the last write wins).
Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, Scalar value);
Tensor& scatter_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor& scatter_(Tensor& x, int64_t dim, const Tensor& index, Scalar value);
// Sums colliding entries; deterministic whatever the thread count.
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor& scatter_add_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
// reduce: "sum", "prod", "mean", "amax" or "amin". With include_self = false the elements of x that
// receive a value start from the reduction's identity instead of x. Integer "mean" rounds down.
Tensor scatter_reduce(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src,
                      std::string_view reduce, bool include_self = true);

// ---- with a 1-D index along one dim ----
// out.select(dim, j) = x.select(dim, index[j]).
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// A copy of x with x.select(dim, index[j]) += alpha * src.select(dim, j); sums collisions in a
// fixed order.
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src, Scalar alpha = 1);
Tensor& index_add_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src, Scalar alpha = 1);
// A copy of x with x.select(dim, index[j]) = src.select(dim, j).
Tensor index_copy(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor& index_copy_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);

// ---- advanced indexing on the leading dims: x[i0, i1, ...] in Python ----
// The index tensors broadcast together to a shape B; the result has shape B + x.shape[K:], K the
// number of indices. A bool index selects where it is true (it must match the shape of the dims it
// covers), as x[mask] does.
Tensor index(const Tensor& x, const std::vector<Tensor>& indices);
// x[i0, i1, ...] = values (accumulate = false) or += values (true); values broadcast to the indexed
// shape and have x's dtype. Out of place returns a modified copy.
Tensor index_put(const Tensor& x, const std::vector<Tensor>& indices, const Tensor& values, bool accumulate = false);
Tensor& index_put_(Tensor& x, const std::vector<Tensor>& indices, const Tensor& values, bool accumulate = false);

// ---- masks ----
// mask is bool and broadcasts with x (in place: to x's shape).
Tensor masked_fill(const Tensor& x, const Tensor& mask, Scalar value);
Tensor& masked_fill_(Tensor& x, const Tensor& mask, Scalar value);
// The elements of x (broadcast with mask) where mask is true, as a 1-D tensor in row-major order.
Tensor masked_select(const Tensor& x, const Tensor& mask);
// Coordinates of the nonzero elements: i64 [n, x.dim()], rows in row-major order.
Tensor nonzero(const Tensor& x);

// ---- lookups ----
// i64 tensor of shape indices.shape + [num_classes]; num_classes = -1 means max(indices) + 1.
Tensor one_hot(const Tensor& indices, int64_t num_classes = -1);
// Rows of a 2-D weight: out has shape indices.shape + [weight.size(1)].
Tensor embedding(const Tensor& weight, const Tensor& indices);

}  // namespace moelab
