// Binary elementwise ops, where, operators and in-place forms, each with its derivative.
#include <cmath>
#include <vector>

#include "moelab/autograd/function.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/elementwise_internal.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/op_helpers.h"
#include "moelab/ops/reduce.h"

namespace moelab {
using detail::assign_into;
using detail::backend_of;
using detail::binary_op;

namespace {

// What a backward formula reads: the inputs a, b and the output.
enum Needs : unsigned { kA = 1, kB = 2, kOut = 4 };

// Records d(out)/da = fa(g, a, b, out) and d(out)/db = fb(g, a, b, out). need_a and need_b say
// which tensors each formula reads: only those are saved (so an in-place change of a tensor the
// backward does not read is no error), and each formula runs only when its input needs a gradient.
template <class FA, class FB>
Tensor binary_grad(BinaryOp op, const Tensor& a, const Tensor& b, const char* name, unsigned need_a, unsigned need_b,
                   FA fa, FB fb) {
  Tensor out = binary_op(op, a, b, name);
  if (!autograd::needs_grad({&a, &b})) return out;
  unsigned need = (a.requires_grad() ? need_a : 0u) | (b.requires_grad() ? need_b : 0u);
  Shape sa = a.shape(), sb = b.shape();
  DType da = a.dtype(), db = b.dtype();
  std::vector<autograd::SavedVariable> saved{autograd::SavedVariable(need & kA ? a : Tensor(), false),
                                             autograd::SavedVariable(need & kB ? b : Tensor(), false),
                                             autograd::SavedVariable(need & kOut ? out : Tensor(), true)};
  autograd::record_op(name, {&a, &b}, {&out}, std::move(saved),
                      [fa, fb, sa, sb, da, db](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
                        Tensor x = c.saved(0), y = c.saved(1), o = c.saved(2);
                        auto fit = [](const Tensor& t, const Shape& s, DType d) {
                          Tensor u = sum_to(t, s);
                          return u.dtype() == d ? u : u.to(d);
                        };
                        std::vector<Tensor> r(2);
                        if (c.needs_input_grad(0)) r[0] = fit(fa(g[0], x, y, o), sa, da);
                        if (c.needs_input_grad(1)) r[1] = fit(fb(g[0], x, y, o), sb, db);
                        return r;
                      });
  return out;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b, Scalar alpha) {
  if (alpha.to_double() != 1.0) return add(a, mul(b, scalar_tensor(alpha, b.dtype())));
  return binary_grad(
      BinaryOp::Add, a, b, "add", 0, 0, [](const Tensor& g, auto&, auto&, auto&) { return g; },
      [](const Tensor& g, auto&, auto&, auto&) { return g; });
}

Tensor sub(const Tensor& a, const Tensor& b, Scalar alpha) {
  if (alpha.to_double() != 1.0) return sub(a, mul(b, scalar_tensor(alpha, b.dtype())));
  return binary_grad(
      BinaryOp::Sub, a, b, "sub", 0, 0, [](const Tensor& g, auto&, auto&, auto&) { return g; },
      [](const Tensor& g, auto&, auto&, auto&) { return -g; });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  return binary_grad(
      BinaryOp::Mul, a, b, "mul", kB, kA, [](const Tensor& g, auto&, const Tensor& y, auto&) { return g * y; },
      [](const Tensor& g, const Tensor& x, auto&, auto&) { return g * x; });
}

Tensor div(const Tensor& a, const Tensor& b) {
  return binary_grad(
      BinaryOp::Div, a, b, "div", kB, kA | kB, [](const Tensor& g, auto&, const Tensor& y, auto&) { return g / y; },
      [](const Tensor& g, const Tensor& x, const Tensor& y, auto&) { return -g * x / (y * y); });
}

// d/da a^b = b a^(b-1); d/db a^b = a^b log(a), taken as 0 where a = 0 (as PyTorch does).
Tensor pow(const Tensor& a, const Tensor& b) {
  return binary_grad(
      BinaryOp::Pow, a, b, "pow", kA | kB, kA | kOut,
      [](const Tensor& g, const Tensor& x, const Tensor& y, auto&) { return g * y * pow(x, y - 1.0); },
      [](const Tensor& g, const Tensor& x, auto&, const Tensor& o) {
        Tensor safe_log = where(x == 0.0, zeros_like(x), log(where(x == 0.0, ones_like(x), x)));
        return g * o * safe_log;
      });
}

// At ties the gradient is split evenly between the two inputs, as in PyTorch.
Tensor maximum(const Tensor& a, const Tensor& b) {
  return binary_grad(
      BinaryOp::Maximum, a, b, "maximum", kA | kB, kA | kB,
      [](const Tensor& g, const Tensor& x, const Tensor& y, auto&) {
        return g * (x > y).to(g.dtype()) + g * (x == y).to(g.dtype()) * 0.5;
      },
      [](const Tensor& g, const Tensor& x, const Tensor& y, auto&) {
        return g * (y > x).to(g.dtype()) + g * (x == y).to(g.dtype()) * 0.5;
      });
}

Tensor minimum(const Tensor& a, const Tensor& b) {
  return binary_grad(
      BinaryOp::Minimum, a, b, "minimum", kA | kB, kA | kB,
      [](const Tensor& g, const Tensor& x, const Tensor& y, auto&) {
        return g * (x < y).to(g.dtype()) + g * (x == y).to(g.dtype()) * 0.5;
      },
      [](const Tensor& g, const Tensor& x, const Tensor& y, auto&) {
        return g * (y < x).to(g.dtype()) + g * (x == y).to(g.dtype()) * 0.5;
      });
}

// Linear in grad (its gradient is relu_backward(gg, out)); out gets none: the mask is piecewise
// constant, as in where(out > 0, grad, 0), which this replaces with one pass and no temporaries.
Tensor relu_backward(const Tensor& grad, const Tensor& out) {
  return binary_grad(
      BinaryOp::ReluBackward, grad, out, "relu_backward", kB, kB,
      [](const Tensor& g, auto&, const Tensor& y, auto&) { return relu_backward(g, y); },
      [](const Tensor& g, auto&, const Tensor& y, auto&) { return zeros_like(y).expand(g.shape()); });
}

#define MOELAB_COMPARE(fn, OP) \
  Tensor fn(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::OP, a, b, #fn); }
MOELAB_COMPARE(eq, Eq)
MOELAB_COMPARE(ne, Ne)
MOELAB_COMPARE(lt, Lt)
MOELAB_COMPARE(le, Le)
MOELAB_COMPARE(gt, Gt)
MOELAB_COMPARE(ge, Ge)
MOELAB_COMPARE(logical_and, LogicalAnd)
MOELAB_COMPARE(logical_or, LogicalOr)
MOELAB_COMPARE(logical_xor, LogicalXor)
#undef MOELAB_COMPARE

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  detail::check_same_device({&cond, &a, &b}, "where");
  MOELAB_CHECK(cond.dtype() == kBool, "where: condition must be bool, got ", cond.dtype());
  DType t = detail::result_type(a, b);
  Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = make_empty(shape, t, a.device());
  {
    autograd::NoGradGuard no_grad;
    backend_of(a).elementwise().where(out, cond.expand(shape), a.to(t).expand(shape), b.to(t).expand(shape));
  }
  if (autograd::needs_grad({&a, &b})) {
    // The gradient goes to a where cond holds, to b elsewhere.
    Shape sa = a.shape(), sb = b.shape();
    DType da = a.dtype(), db = b.dtype();
    autograd::record_op("where", {&a, &b}, {&out}, {autograd::SavedVariable(cond, false)},
                        [sa, sb, da, db](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
                          Tensor k = c.saved(0), z = zeros_like(g[0]);
                          std::vector<Tensor> r(2);
                          if (c.needs_input_grad(0)) r[0] = sum_to(where(k, g[0], z), sa).to(da);
                          if (c.needs_input_grad(1)) r[1] = sum_to(where(k, z, g[0]), sb).to(db);
                          return r;
                        });
  }
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
