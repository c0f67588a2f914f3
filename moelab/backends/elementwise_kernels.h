// Elementwise primitives. `out` has the result shape; every input has been broadcast to it
// (stride 0 on broadcast dims) and may have any strides.
#pragma once
#include <cstdint>

#include "moelab/core/scalar.h"
#include "moelab/core/tensor.h"

namespace moelab {

enum class UnaryOp : uint8_t {
  Neg, Abs, Sign, Exp, Log, Log1p, Expm1, Sqrt, Rsqrt, Square, Reciprocal, Sin, Cos, Tanh,
  Sigmoid, Relu, GeluErf, GeluTanh, Silu, Softplus, Erf, Floor, Ceil, Round, Clamp,
  PowScalar,  // x ** p.a
  // predicates: out is bool
  IsNan, IsFinite, LogicalNot,
};

// Op parameters: Clamp uses lo/hi (±inf when absent), Softplus beta (a) and threshold (b),
// PowScalar the exponent (a).
struct UnaryParams {
  double a = 0, b = 0;
};

enum class BinaryOp : uint8_t {
  Add, Sub, Mul, Div, Pow, Maximum, Minimum,
  ReluBackward,  // a where b > 0, else 0 (a: the gradient, b: relu's output)
  // out is bool:
  Eq, Ne, Lt, Le, Gt, Ge, LogicalAnd, LogicalOr, LogicalXor,
};

constexpr bool is_predicate(UnaryOp op) { return op >= UnaryOp::IsNan; }
constexpr bool is_comparison(BinaryOp op) { return op >= BinaryOp::Eq; }

class ElementwiseKernels {
 public:
  virtual ~ElementwiseKernels() = default;
  virtual void fill(const Tensor& out, Scalar value) = 0;
  // dst and src have the same shape; src is cast to dst's dtype. They may be on different devices
  // only where the backend says so (host <-> device copies).
  virtual void copy(const Tensor& dst, const Tensor& src) = 0;
  // in and out share a dtype, except predicates, whose out is bool.
  virtual void unary(UnaryOp op, const Tensor& out, const Tensor& in, const UnaryParams& p) = 0;
  // a and b share a dtype; out has it too, or bool for comparisons and logical ops.
  virtual void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) = 0;
  // cond is bool; a, b and out share a dtype.
  virtual void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) = 0;

  // Fused SwiGLU for expert FFNs (moe/swiglu.h, moe/grouped_ffn.h): out = silu(a) * b. All
  // operands contiguous, of one shape and one dtype (f32 or f64).
  virtual void swiglu(const Tensor& out, const Tensor& a, const Tensor& b) = 0;
  // Its backward from g = d out, in one pass: ga = g b s (1 + a (1 - s)) and gb = g a s, where
  // s = sigmoid(a). Either of ga, gb may be undefined (not wanted), not both; ga may be g itself
  // (overwritten in place). Same operand rules as swiglu.
  virtual void swiglu_backward(const Tensor& ga, const Tensor& gb, const Tensor& g, const Tensor& a,
                               const Tensor& b) = 0;
};

}  // namespace moelab
