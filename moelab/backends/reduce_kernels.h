// Reduction primitives. `out` keeps `in`'s rank with the reduced dims set to 1 (keepdim form);
// ops/ squeezes afterwards.
#pragma once
#include <cstdint>

#include "moelab/core/tensor.h"

namespace moelab {

enum class ReduceOp : uint8_t { Sum, Prod, Max, Min, Any, All };

class ReduceKernels {
 public:
  virtual ~ReduceKernels() = default;
  // dim_mask bit d set = dim d is reduced. out has in's dtype (bool for Any/All). Sum/Prod of an
  // empty set give 0/1; Max/Min of an empty set are rejected by ops/ before the call. NaN propagates.
  virtual void reduce(ReduceOp op, const Tensor& out, const Tensor& in, uint32_t dim_mask) = 0;
  // Max or min along one dim, with the index of the first occurrence (NaN counts as the extreme).
  // values: in's dtype; indices: i64; both keepdim-shaped.
  virtual void arg_reduce(bool is_max, const Tensor& values, const Tensor& indices, const Tensor& in,
                          int dim) = 0;
};

}  // namespace moelab
