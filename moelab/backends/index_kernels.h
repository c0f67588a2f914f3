// Indexing primitives: gather/scatter along one dim, advanced indexing on leading dims (read and
// write), and nonzero. Everything else in the family (index_select, index_add, index_copy,
// embedding, masked_select, one_hot, scatter_reduce "mean", ...) is composed from these in ops/.
//
// Contract (as for every kernel): ops/ has checked shapes, dtypes and every index value; index
// tensors are i64; all tensors may have any strides (stride 0 included, for expanded operands).
// Results never depend on the thread count: where two index entries can hit one destination
// element, the kernels visit those entries in index order on one thread.
#pragma once
#include <cstdint>
#include <span>

#include "moelab/core/tensor.h"

namespace moelab {

// How scatter combines a source value into the destination element it lands on.
enum class ScatterOp : uint8_t { Assign, Add, Mul, Max, Min };

class IndexKernels {
 public:
  virtual ~IndexKernels() = default;

  // out[..., i, ...] = self[..., index[..., i, ...], ...] along `dim` (torch.gather). out and index
  // have one shape; on the other dims index.size(d) <= self.size(d). Indices lie in [0, self.size(dim)).
  virtual void gather(const Tensor& out, const Tensor& self, int dim, const Tensor& index) = 0;

  // self[..., index[..., i, ...], ...] op= src[..., i, ...] along `dim`, in place (torch.scatter_).
  // index.size(d) <= src.size(d) on every dim and <= self.size(d) off `dim`; src has self's dtype.
  // Max/Min propagate NaN. Entries that collide are applied in increasing order of i.
  virtual void scatter(const Tensor& self, int dim, const Tensor& index, const Tensor& src, ScatterOp op) = 0;

  // Advanced indexing on the K = indices.size() leading dims of self:
  //   out[b, r...] = self[indices[0][b], ..., indices[K-1][b], r...]
  // indices are 1-D i64 tensors of one length n; out has shape [n, self.shape[K:]...]. An index may
  // be negative (counting from the end, as in Python) but lies in [-size, size).
  virtual void index(const Tensor& out, const Tensor& self, std::span<const Tensor> indices) = 0;

  // The write side of `index`, in place: self[indices[0][b], ..., r...] = (or +=) values[b, r...].
  // values has out's shape in `index` and self's dtype. Repeated positions are applied in order of b
  // (the last write wins; accumulation sums in a fixed order).
  virtual void index_put(const Tensor& self, std::span<const Tensor> indices, const Tensor& values,
                         bool accumulate) = 0;

  // The coordinates of the nonzero elements of `in` in row-major order: out is i64 [n, in.dim()],
  // with n the count of nonzero elements (computed by ops/ beforehand).
  virtual void nonzero(const Tensor& out, const Tensor& in) = 0;

  // MoE combine (moe/dispatch.h): out[t] = sum over j of w[t, j] * y[rows[t, j]], over the k slots
  // of token t whose row is >= 0 (a dropped slot has row -1), in order of j. out [T, d], y [N, d],
  // w and rows [T, k]; all contiguous; out, y and w of one dtype (f32 or f64), rows i64.
  virtual void weighted_row_sum(const Tensor& out, const Tensor& y, const Tensor& w, const Tensor& rows) = 0;
  // Its backward from g = d out [T, d]: gy[r] = w[s] * g[s / k] for each row r of y, where s =
  // slots[r] is the flat [T * k] slot that row came from; gw[s] = <g[s / k], y[rows[s]]>, 0 where
  // rows[s] < 0. Either of gy, gw may be undefined (not wanted), not both.
  virtual void weighted_row_sum_backward(const Tensor& gy, const Tensor& gw, const Tensor& g, const Tensor& y,
                                         const Tensor& w, const Tensor& rows, const Tensor& slots) = 0;
};

}  // namespace moelab
