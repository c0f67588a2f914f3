#include "moelab/ops/elementwise.h"
#include "moelab/ops/elementwise_internal.h"

#include <cmath>
#include <limits>
#include <vector>

#include "moelab/autograd/function.h"
#include "moelab/backends/elementwise_kernels.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/op_helpers.h"
#include "moelab/ops/reduce.h"

namespace moelab {
using detail::backend_of;

namespace detail {

// The forward kernels only: no recording here (the public functions below record).
Tensor unary_op(UnaryOp op, UnaryKind kind, const Tensor& x, const char* name, UnaryParams p) {
  detail::check_defined(x, name);
  autograd::NoGradGuard no_grad;
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
  autograd::NoGradGuard no_grad;
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

// Writes `result` back into `a` (casting), the tail of every in-place op; under autograd, `a`
// takes the history of the out-of-place result.
Tensor& assign_into(Tensor& a, const Tensor& result, const char* name) {
  MOELAB_CHECK(result.shape() == a.shape(), name, ": in-place result of shape ", result.shape(),
               " does not fit the tensor of shape ", a.shape());
  bool recording = result.requires_grad();
  autograd::check_inplace(a, name, recording);
  {
    autograd::NoGradGuard no_grad;
    a.copy_(result);
  }
  if (recording) autograd::rebase_history(a, result.to(a.dtype()));
  return a;
}

}  // namespace detail

using detail::binary_op;
using detail::unary_op;
using detail::UnaryKind;

namespace {

// What a unary op's backward needs saved.
enum Save : unsigned { kSaveInput = 1, kSaveOutput = 2 };

// Runs a unary op and, under autograd, records grad_x = formula(g, x, out) (x and out are the
// saved input and output, undefined when not saved).
template <class Formula>
Tensor unary_grad(UnaryOp op, UnaryKind kind, const Tensor& x, const char* name, unsigned save, Formula formula,
                  UnaryParams p = {}) {
  Tensor out = unary_op(op, kind, x, name, p);
  if (autograd::needs_grad({&x})) {
    std::vector<autograd::SavedVariable> saved{autograd::SavedVariable(save & kSaveInput ? x : Tensor(), false),
                                               autograd::SavedVariable(save & kSaveOutput ? out : Tensor(), true)};
    autograd::record_op(name, {&x}, {&out}, std::move(saved),
                        [formula](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
                          return std::vector<Tensor>{formula(g[0], c.saved(0), c.saved(1))};
                        });
  }
  return out;
}

}  // namespace



#define MOELAB_NO_GRAD(fn, OP, KIND) \
  Tensor fn(const Tensor& x) { return unary_op(UnaryOp::OP, UnaryKind::KIND, x, #fn); }
MOELAB_NO_GRAD(isnan, IsNan, Predicate)
MOELAB_NO_GRAD(isfinite, IsFinite, Predicate)
MOELAB_NO_GRAD(logical_not, LogicalNot, Predicate)
#undef MOELAB_NO_GRAD

// Each unary op: forward kernel, then its derivative right beside it.
#define MOELAB_UNARY(fn, OP, KIND, SAVE, ...)                                                      \
  Tensor fn(const Tensor& x) {                                                                    \
    return unary_grad(UnaryOp::OP, UnaryKind::KIND, x, #fn, SAVE,                                 \
                      []([[maybe_unused]] const Tensor& g, [[maybe_unused]] const Tensor& x_,     \
                         [[maybe_unused]] const Tensor& out) { return __VA_ARGS__; });            \
  }
MOELAB_UNARY(neg, Neg, KeepDType, 0, -g)
MOELAB_UNARY(abs, Abs, KeepDType, kSaveInput, g * sign(x_))
MOELAB_UNARY(sign, Sign, KeepDType, 0, zeros_like(g))
MOELAB_UNARY(square, Square, KeepDType, kSaveInput, g * x_ * 2.0)
MOELAB_UNARY(relu, Relu, KeepDType, kSaveOutput, relu_backward(g, out))
MOELAB_UNARY(exp, Exp, FloatOnly, kSaveOutput, g * out)
MOELAB_UNARY(log, Log, FloatOnly, kSaveInput, g / x_)
MOELAB_UNARY(log1p, Log1p, FloatOnly, kSaveInput, g / (x_ + 1.0))
// exp(x), not PyTorch's (result + 1): that loses all precision for very negative x.
MOELAB_UNARY(expm1, Expm1, FloatOnly, kSaveInput, g * exp(x_))
MOELAB_UNARY(sqrt, Sqrt, FloatOnly, kSaveOutput, g / (out * 2.0))
MOELAB_UNARY(rsqrt, Rsqrt, FloatOnly, kSaveOutput, g * out * out * out * -0.5)
MOELAB_UNARY(reciprocal, Reciprocal, FloatOnly, kSaveOutput, -g * out * out)
MOELAB_UNARY(sin, Sin, FloatOnly, kSaveInput, g * cos(x_))
MOELAB_UNARY(cos, Cos, FloatOnly, kSaveInput, -g * sin(x_))
MOELAB_UNARY(tanh, Tanh, FloatOnly, kSaveOutput, g * (1.0 - out * out))
MOELAB_UNARY(sigmoid, Sigmoid, FloatOnly, kSaveOutput, g * out * (1.0 - out))
// silu(x) = x s(x): derivative s (1 + x (1 - s)).
MOELAB_UNARY(silu, Silu, FloatOnly, kSaveInput, [&] {
  Tensor s = sigmoid(x_);
  return g * s * (1.0 + x_ * (1.0 - s));
}())
// erf'(x) = 2/sqrt(pi) exp(-x^2).
MOELAB_UNARY(erf, Erf, FloatOnly, kSaveInput, g * exp(-square(x_)) * 1.1283791670955125739)
#undef MOELAB_UNARY

// floor/ceil/round are the identity on integers, as in PyTorch; their derivative is zero.
Tensor floor(const Tensor& x) {
  if (is_integral(x.dtype())) return x.clone();
  return unary_grad(UnaryOp::Floor, UnaryKind::FloatOnly, x, "floor", 0,
                    [](const Tensor& g, const Tensor&, const Tensor&) { return zeros_like(g); });
}
Tensor ceil(const Tensor& x) {
  if (is_integral(x.dtype())) return x.clone();
  return unary_grad(UnaryOp::Ceil, UnaryKind::FloatOnly, x, "ceil", 0,
                    [](const Tensor& g, const Tensor&, const Tensor&) { return zeros_like(g); });
}
Tensor round(const Tensor& x) {
  if (is_integral(x.dtype())) return x.clone();
  return unary_grad(UnaryOp::Round, UnaryKind::FloatOnly, x, "round", 0,
                    [](const Tensor& g, const Tensor&, const Tensor&) { return zeros_like(g); });
}

Tensor gelu(const Tensor& x, std::string_view approximate) {
  MOELAB_CHECK(approximate == "none" || approximate == "tanh",
               "gelu: approximate must be \"none\" or \"tanh\", got \"", approximate, "\"");
  if (approximate == "tanh") {
    // y = x/2 (1 + t), t = tanh(k (x + c x^3)): y' = (1 + t)/2 + x/2 (1 - t^2) k (1 + 3 c x^2).
    return unary_grad(UnaryOp::GeluTanh, UnaryKind::FloatOnly, x, "gelu", kSaveInput,
                      [](const Tensor& g, const Tensor& xs, const Tensor&) {
                        constexpr double k = 0.79788456080286535588, c = 0.044715;
                        Tensor t = tanh((xs + xs * xs * xs * c) * k);
                        Tensor d = (t + 1.0) * 0.5 + xs * 0.5 * (1.0 - t * t) * k * (1.0 + xs * xs * (3 * c));
                        return g * d;
                      });
  }
  // y = x Phi(x): y' = Phi(x) + x phi(x).
  return unary_grad(UnaryOp::GeluErf, UnaryKind::FloatOnly, x, "gelu", kSaveInput,
                    [](const Tensor& g, const Tensor& xs, const Tensor&) {
                      Tensor cdf = (erf(xs * 0.70710678118654752440) + 1.0) * 0.5;
                      Tensor pdf = exp(square(xs) * -0.5) * 0.39894228040143267794;
                      return g * (cdf + xs * pdf);
                    });
}

Tensor softplus(const Tensor& x, double beta, double threshold) {
  MOELAB_CHECK(beta != 0, "softplus: beta must be non-zero");
  // Derivative sigmoid(beta x), or 1 in the linear region above the threshold.
  return unary_grad(
      UnaryOp::Softplus, UnaryKind::FloatOnly, x, "softplus", kSaveInput,
      [beta, threshold](const Tensor& g, const Tensor& xs, const Tensor&) {
        Tensor z = xs * beta;
        return where(z > threshold, g, g * sigmoid(z));
      },
      {beta, threshold});
}

Tensor clamp(const Tensor& x, std::optional<Scalar> min, std::optional<Scalar> max) {
  MOELAB_CHECK(min || max, "clamp: at least one of min and max must be given");
  constexpr double inf = std::numeric_limits<double>::infinity();
  UnaryParams p{min ? min->to_double() : -inf, max ? max->to_double() : inf};
  // A float bound on an integer tensor gives a float result, as in PyTorch.
  bool float_bound = (min && min->is_floating()) || (max && max->is_floating());
  Tensor in = float_bound && !is_floating(x.dtype()) ? x.to(kF32) : x;
  if (p.a > p.b) p.a = p.b;  // PyTorch: min > max sets everything to max
  // The gradient passes where lo <= x <= hi.
  return unary_grad(
      UnaryOp::Clamp, UnaryKind::KeepDType, in, "clamp", kSaveInput,
      [lo = p.a, hi = p.b](const Tensor& g, const Tensor& xs, const Tensor&) {
        return where(logical_and(xs >= lo, xs <= hi), g, zeros_like(g));
      },
      p);
}

Tensor pow(const Tensor& a, Scalar exponent) {
  detail::check_defined(a, "pow");
  if (!exponent.is_floating() && is_integral(a.dtype())) {
    MOELAB_CHECK(exponent.to_int() >= 0, "pow: integers to negative integer powers are not allowed");
    return binary_op(BinaryOp::Pow, a, scalar_tensor(exponent, a.dtype()), "pow");
  }
  double e = exponent.to_double();
  if (e == 2.0 && is_floating(a.dtype())) return square(a);
  // d/dx x^e = e x^(e-1) (0 for e = 0).
  return unary_grad(
      UnaryOp::PowScalar, UnaryKind::FloatOnly, a, "pow", kSaveInput,
      [e](const Tensor& g, const Tensor& xs, const Tensor&) {
        return e == 0.0 ? zeros_like(g) : g * pow(xs, e - 1.0) * e;
      },
      {e, 0});
}

}  // namespace moelab
