#include "moelab/ops/elementwise.h"

#include <cmath>
#include <limits>
#include <vector>

#include "moelab/backends/elementwise_kernels.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/op_helpers.h"

namespace moelab {
using detail::backend_of;

namespace {

// Which dtype a unary op computes in: the "float" ops promote integers to f32.
enum class UnaryKind { KeepDType, FloatOnly, Predicate };

Tensor unary_op(UnaryOp op, UnaryKind kind, const Tensor& x, const char* name, UnaryParams p = {}) {
  detail::check_defined(x, name);
  Tensor in = x;
  MOELAB_CHECK(in.dtype() != DType::BF16 && in.dtype() != DType::F16, name, ": ", in.dtype(),
               " is a storage dtype on CPU; convert with .to(kF32) first");
  if (kind == UnaryKind::FloatOnly && !is_floating(in.dtype())) in = in.to(kF32);
  if (kind == UnaryKind::KeepDType)
    MOELAB_CHECK(in.dtype() != DType::Bool, name, ": not defined for bool tensors");
  Tensor out = make_empty(in.shape(), kind == UnaryKind::Predicate ? kBool : in.dtype(), in.device());
  backend_of(in).elementwise().unary(op, out, in, p);
  return out;
}

Tensor binary_op(BinaryOp op, const Tensor& a, const Tensor& b, const char* name) {
  detail::check_same_device({&a, &b}, name);
  DType t = detail::result_type(a, b);
  MOELAB_CHECK(t != DType::BF16 && t != DType::F16, name, ": ", t,
               " is a storage dtype on CPU; convert with .to(kF32) first");
  if (op == BinaryOp::Div && !is_floating(t)) t = kF32;
  if (!is_comparison(op))
    MOELAB_CHECK(t != DType::Bool, name, ": arithmetic on bool tensors; cast them with .to() first");
  Shape shape = a.shape() == b.shape() ? a.shape() : broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = make_empty(shape, is_comparison(op) ? kBool : t, a.device());
  backend_of(a).elementwise().binary(op, out, a.to(t).expand(shape), b.to(t).expand(shape));
  return out;
}

// Writes `result` back into `a` (casting), the tail of every in-place op.
Tensor& assign_into(Tensor& a, const Tensor& result, const char* name) {
  MOELAB_CHECK(result.shape() == a.shape(), name, ": in-place result of shape ", result.shape(),
               " does not fit the tensor of shape ", a.shape());
  a.copy_(result);
  return a;
}

}  // namespace

#define MOELAB_UNARY(fn, OP, KIND) \
  Tensor fn(const Tensor& x) { return unary_op(UnaryOp::OP, UnaryKind::KIND, x, #fn); }
MOELAB_UNARY(neg, Neg, KeepDType)
MOELAB_UNARY(abs, Abs, KeepDType)
MOELAB_UNARY(sign, Sign, KeepDType)
MOELAB_UNARY(square, Square, KeepDType)
MOELAB_UNARY(relu, Relu, KeepDType)
MOELAB_UNARY(exp, Exp, FloatOnly)
MOELAB_UNARY(log, Log, FloatOnly)
MOELAB_UNARY(log1p, Log1p, FloatOnly)
MOELAB_UNARY(expm1, Expm1, FloatOnly)
MOELAB_UNARY(sqrt, Sqrt, FloatOnly)
MOELAB_UNARY(rsqrt, Rsqrt, FloatOnly)
MOELAB_UNARY(reciprocal, Reciprocal, FloatOnly)
MOELAB_UNARY(sin, Sin, FloatOnly)
MOELAB_UNARY(cos, Cos, FloatOnly)
MOELAB_UNARY(tanh, Tanh, FloatOnly)
MOELAB_UNARY(sigmoid, Sigmoid, FloatOnly)
MOELAB_UNARY(silu, Silu, FloatOnly)
MOELAB_UNARY(erf, Erf, FloatOnly)
MOELAB_UNARY(isnan, IsNan, Predicate)
MOELAB_UNARY(isfinite, IsFinite, Predicate)
MOELAB_UNARY(logical_not, LogicalNot, Predicate)
#undef MOELAB_UNARY

// floor/ceil/round are the identity on integers, as in PyTorch.
Tensor floor(const Tensor& x) {
  return is_integral(x.dtype()) ? x.clone() : unary_op(UnaryOp::Floor, UnaryKind::FloatOnly, x, "floor");
}
Tensor ceil(const Tensor& x) {
  return is_integral(x.dtype()) ? x.clone() : unary_op(UnaryOp::Ceil, UnaryKind::FloatOnly, x, "ceil");
}
Tensor round(const Tensor& x) {
  return is_integral(x.dtype()) ? x.clone() : unary_op(UnaryOp::Round, UnaryKind::FloatOnly, x, "round");
}

Tensor gelu(const Tensor& x, std::string_view approximate) {
  MOELAB_CHECK(approximate == "none" || approximate == "tanh",
               "gelu: approximate must be \"none\" or \"tanh\", got \"", approximate, "\"");
  return unary_op(approximate == "tanh" ? UnaryOp::GeluTanh : UnaryOp::GeluErf, UnaryKind::FloatOnly, x, "gelu");
}

Tensor softplus(const Tensor& x, double beta, double threshold) {
  MOELAB_CHECK(beta != 0, "softplus: beta must be non-zero");
  return unary_op(UnaryOp::Softplus, UnaryKind::FloatOnly, x, "softplus", {beta, threshold});
}

Tensor clamp(const Tensor& x, std::optional<Scalar> min, std::optional<Scalar> max) {
  MOELAB_CHECK(min || max, "clamp: at least one of min and max must be given");
  constexpr double inf = std::numeric_limits<double>::infinity();
  UnaryParams p{min ? min->to_double() : -inf, max ? max->to_double() : inf};
  // A float bound on an integer tensor gives a float result, as in PyTorch.
  bool float_bound = (min && min->is_floating()) || (max && max->is_floating());
  Tensor in = float_bound && !is_floating(x.dtype()) ? x.to(kF32) : x;
  if (p.a > p.b) p.a = p.b;  // PyTorch: min > max sets everything to max
  return unary_op(UnaryOp::Clamp, UnaryKind::KeepDType, in, "clamp", p);
}

Tensor pow(const Tensor& a, Scalar exponent) {
  detail::check_defined(a, "pow");
  if (!exponent.is_floating() && is_integral(a.dtype())) {
    MOELAB_CHECK(exponent.to_int() >= 0, "pow: integers to negative integer powers are not allowed");
    return binary_op(BinaryOp::Pow, a, scalar_tensor(exponent, a.dtype()), "pow");
  }
  double e = exponent.to_double();
  if (e == 2.0 && is_floating(a.dtype())) return square(a);
  return unary_op(UnaryOp::PowScalar, UnaryKind::FloatOnly, a, "pow", {e, 0});
}

Tensor add(const Tensor& a, const Tensor& b, Scalar alpha) {
  if (alpha.to_double() == 1.0) return binary_op(BinaryOp::Add, a, b, "add");
  return binary_op(BinaryOp::Add, a, mul(b, scalar_tensor(alpha, b.dtype())), "add");
}
Tensor sub(const Tensor& a, const Tensor& b, Scalar alpha) {
  if (alpha.to_double() == 1.0) return binary_op(BinaryOp::Sub, a, b, "sub");
  return binary_op(BinaryOp::Sub, a, mul(b, scalar_tensor(alpha, b.dtype())), "sub");
}

#define MOELAB_BINARY(fn, OP) \
  Tensor fn(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::OP, a, b, #fn); }
MOELAB_BINARY(mul, Mul)
MOELAB_BINARY(div, Div)
MOELAB_BINARY(pow, Pow)
MOELAB_BINARY(maximum, Maximum)
MOELAB_BINARY(minimum, Minimum)
MOELAB_BINARY(eq, Eq)
MOELAB_BINARY(ne, Ne)
MOELAB_BINARY(lt, Lt)
MOELAB_BINARY(le, Le)
MOELAB_BINARY(gt, Gt)
MOELAB_BINARY(ge, Ge)
MOELAB_BINARY(logical_and, LogicalAnd)
MOELAB_BINARY(logical_or, LogicalOr)
MOELAB_BINARY(logical_xor, LogicalXor)
#undef MOELAB_BINARY

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  detail::check_same_device({&cond, &a, &b}, "where");
  MOELAB_CHECK(cond.dtype() == kBool, "where: condition must be bool, got ", cond.dtype());
  DType t = detail::result_type(a, b);
  Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = make_empty(shape, t, a.device());
  backend_of(a).elementwise().where(out, cond.expand(shape), a.to(t).expand(shape), b.to(t).expand(shape));
  return out;
}

Tensor scalar_tensor(Scalar s, DType dtype) {
  Tensor t = full({}, s, dtype);
  t.impl()->set_wrapped_number(true);
  return t;
}

namespace {
DType scalar_dtype(Scalar s) {
  switch (s.kind()) {
    case Scalar::Kind::Float: return kF64;
    case Scalar::Kind::Int: return kI64;
    default: return kBool;
  }
}
}  // namespace

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator+(const Tensor& a, Scalar b) { return add(a, scalar_tensor(b, scalar_dtype(b))); }
Tensor operator-(const Tensor& a, Scalar b) { return sub(a, scalar_tensor(b, scalar_dtype(b))); }
Tensor operator*(const Tensor& a, Scalar b) { return mul(a, scalar_tensor(b, scalar_dtype(b))); }
Tensor operator/(const Tensor& a, Scalar b) { return div(a, scalar_tensor(b, scalar_dtype(b))); }
Tensor operator+(Scalar a, const Tensor& b) { return add(scalar_tensor(a, scalar_dtype(a)), b); }
Tensor operator-(Scalar a, const Tensor& b) { return sub(scalar_tensor(a, scalar_dtype(a)), b); }
Tensor operator*(Scalar a, const Tensor& b) { return mul(scalar_tensor(a, scalar_dtype(a)), b); }
Tensor operator/(Scalar a, const Tensor& b) { return div(scalar_tensor(a, scalar_dtype(a)), b); }
Tensor operator==(const Tensor& a, const Tensor& b) { return eq(a, b); }
Tensor operator!=(const Tensor& a, const Tensor& b) { return ne(a, b); }
Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }
Tensor operator<=(const Tensor& a, const Tensor& b) { return le(a, b); }
Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
Tensor operator>=(const Tensor& a, const Tensor& b) { return ge(a, b); }
Tensor operator==(const Tensor& a, Scalar b) { return eq(a, scalar_tensor(b, scalar_dtype(b))); }
Tensor operator!=(const Tensor& a, Scalar b) { return ne(a, scalar_tensor(b, scalar_dtype(b))); }
Tensor operator<(const Tensor& a, Scalar b) { return lt(a, scalar_tensor(b, scalar_dtype(b))); }
Tensor operator<=(const Tensor& a, Scalar b) { return le(a, scalar_tensor(b, scalar_dtype(b))); }
Tensor operator>(const Tensor& a, Scalar b) { return gt(a, scalar_tensor(b, scalar_dtype(b))); }
Tensor operator>=(const Tensor& a, Scalar b) { return ge(a, scalar_tensor(b, scalar_dtype(b))); }
Tensor operator&&(const Tensor& a, const Tensor& b) { return logical_and(a, b); }
Tensor operator||(const Tensor& a, const Tensor& b) { return logical_or(a, b); }
Tensor operator!(const Tensor& a) { return logical_not(a); }

Tensor& add_(Tensor& a, const Tensor& b, Scalar alpha) { return assign_into(a, add(a, b, alpha), "add_"); }
Tensor& sub_(Tensor& a, const Tensor& b, Scalar alpha) { return assign_into(a, sub(a, b, alpha), "sub_"); }
Tensor& mul_(Tensor& a, const Tensor& b) { return assign_into(a, mul(a, b), "mul_"); }
Tensor& div_(Tensor& a, const Tensor& b) { return assign_into(a, div(a, b), "div_"); }
Tensor& clamp_(Tensor& a, std::optional<Scalar> min, std::optional<Scalar> max) {
  return assign_into(a, clamp(a, min, max), "clamp_");
}

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  detail::check_same_device({&a, &b}, "allclose");
  if (a.shape() != b.shape()) return false;
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i]) || std::isnan(y[i])) {
      if (!(equal_nan && std::isnan(x[i]) && std::isnan(y[i]))) return false;
      continue;
    }
    if (x[i] == y[i]) continue;  // equal infinities
    if (!(std::abs(x[i] - y[i]) <= atol + rtol * std::abs(y[i]))) return false;
  }
  return true;
}

bool equal(const Tensor& a, const Tensor& b) {
  detail::check_same_device({&a, &b}, "equal");
  return a.shape() == b.shape() && a.to_vector<double>() == b.to_vector<double>();
}

}  // namespace moelab
