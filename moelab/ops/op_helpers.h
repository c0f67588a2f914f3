// Shared checks and plumbing for op implementations (not part of the public API).
#pragma once
#include <initializer_list>

#include "moelab/backends/backend.h"
#include "moelab/core/tensor.h"

namespace moelab::detail {

// Throws naming the op when a tensor is undefined.
void check_defined(const Tensor& t, const char* op, const char* arg = "input");
// Throws naming the op when the tensors are not all on one device.
void check_same_device(std::initializer_list<const Tensor*> ts, const char* op);
// Throws naming the op and the dtype when it is not a floating dtype.
void check_floating(const Tensor& t, const char* op);
// Result dtype of a binary op under PyTorch's rules (dim tensors > 0-d tensors > wrapped numbers,
// lower tiers counting only when of a higher category: bool < integer < floating).
DType result_type(const Tensor& a, const Tensor& b);
// The bitmask of dims to reduce; an empty list means all dims. Throws on repeats or bad dims.
uint32_t dim_mask(const Dims& dims, int ndim, const char* op);
// Shape with the masked dims removed (keepdim = false) or set to 1 (keepdim = true).
Shape reduced_shape(const Shape& s, uint32_t mask, bool keepdim);

inline Backend& backend_of(const Tensor& t) { return backend_for(t.device()); }

}  // namespace moelab::detail
