// Shared by the elementwise op files: the forward kernels without autograd, and the in-place tail.
#pragma once
#include "moelab/backends/elementwise_kernels.h"
#include "moelab/core/tensor.h"

namespace moelab::detail {

// Which dtype a unary op computes in: the "float" ops promote integers to f32.
enum class UnaryKind { KeepDType, FloatOnly, Predicate };

Tensor unary_op(UnaryOp op, UnaryKind kind, const Tensor& x, const char* name, UnaryParams p = {});
Tensor binary_op(BinaryOp op, const Tensor& a, const Tensor& b, const char* name);
// Writes `result` into `a` (casting); under autograd, `a` takes the history of `result`.
Tensor& assign_into(Tensor& a, const Tensor& result, const char* name);

}  // namespace moelab::detail
