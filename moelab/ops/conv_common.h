// Shared argument checks of the conv and pooling ops (internal to ops/conv*.cpp).
#pragma once
#include "moelab/core/tensor.h"
#include "moelab/ops/conv.h"
#include "moelab/ops/op_helpers.h"

namespace moelab::detail {

// f32 or f64 (what PyTorch's CPU convolution and pooling compute in); names the op otherwise.
inline void check_conv_dtype(const Tensor& t, const char* op, const char* arg) {
  check_defined(t, op, arg);
  MOELAB_CHECK(t.dtype() == kF32 || t.dtype() == kF64, op, ": ", arg, " must be f32 or f64, got ", t.dtype(),
               " (shape ", t.shape(), ")");
}

// [C,H,W] or [N,C,H,W]; returns the 4-D contiguous view/copy the kernels take.
inline Tensor batched_nchw(const Tensor& x, const char* op, const char* arg = "input") {
  MOELAB_CHECK(x.dim() == 3 || x.dim() == 4, op, ": expected ", arg, " of shape [N, C, H, W] or [C, H, W], got ",
               x.shape());
  return (x.dim() == 3 ? x.unsqueeze(0) : x).contiguous();
}

// The 4-D result back in the caller's rank.
inline Tensor unbatch_like(const Tensor& y, int input_dim) { return input_dim == 3 ? y.squeeze(0) : y; }

inline void check_positive(Int2 v, const char* op, const char* what) {
  MOELAB_CHECK(v.h > 0 && v.w > 0, op, ": ", what, " must be positive, got (", v.h, ", ", v.w, ")");
}
inline void check_non_negative(Int2 v, const char* op, const char* what) {
  MOELAB_CHECK(v.h >= 0 && v.w >= 0, op, ": ", what, " must be non-negative, got (", v.h, ", ", v.w, ")");
}

}  // namespace moelab::detail
