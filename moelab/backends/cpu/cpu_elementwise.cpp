#include <cmath>
#include <cstring>
#include <limits>

#include "moelab/backends/cpu/cast.h"
#include "moelab/backends/cpu/cpu_backend.h"
#include "moelab/backends/cpu/cpu_swiglu.h"
#include "moelab/backends/cpu/loops.h"
#include "moelab/backends/elementwise_kernels.h"

namespace moelab {
namespace {

using cpu::convert;
using cpu::map_elements;

template <class T>
T gelu_erf(T x) {
  return T(0.5) * x * (T(1) + std::erf(x * T(0.70710678118654752440)));
}
template <class T>
T gelu_tanh(T x) {
  constexpr T kBeta = T(0.79788456080286535588);  // sqrt(2/pi)
  return T(0.5) * x * (T(1) + std::tanh(kBeta * (x + T(0.044715) * x * x * x)));
}
template <class T>
T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

// Integer power by squaring; negative exponents give the integer result C++ division would
// (0 unless the base is +-1), matching PyTorch for tensor exponents.
template <class T>
T int_pow(T a, T b) {
  if (b < 0) return a == 1 ? T(1) : a == -1 ? ((b & 1) ? T(-1) : T(1)) : T(0);
  T r = 1;
  while (b) {
    if (b & 1) r *= a;
    a *= a;
    b >>= 1;
  }
  return r;
}

template <class T>
void unary_float(UnaryOp op, const Tensor& out, const Tensor& in, const UnaryParams& p) {
  auto run = [&](auto f) { map_elements<T, T>(f, out, in); };
  const T a = static_cast<T>(p.a), b = static_cast<T>(p.b);
  switch (op) {
    case UnaryOp::Exp: return run([](T x) { return std::exp(x); });
    case UnaryOp::Log: return run([](T x) { return std::log(x); });
    case UnaryOp::Log1p: return run([](T x) { return std::log1p(x); });
    case UnaryOp::Expm1: return run([](T x) { return std::expm1(x); });
    case UnaryOp::Sqrt: return run([](T x) { return std::sqrt(x); });
    case UnaryOp::Rsqrt: return run([](T x) { return T(1) / std::sqrt(x); });
    case UnaryOp::Reciprocal: return run([](T x) { return T(1) / x; });
    case UnaryOp::Sin: return run([](T x) { return std::sin(x); });
    case UnaryOp::Cos: return run([](T x) { return std::cos(x); });
    case UnaryOp::Tanh: return run([](T x) { return std::tanh(x); });
    case UnaryOp::Sigmoid: return run([](T x) { return sigmoid(x); });
    case UnaryOp::GeluErf: return run([](T x) { return gelu_erf(x); });
    case UnaryOp::GeluTanh: return run([](T x) { return gelu_tanh(x); });
    case UnaryOp::Silu: return run([](T x) { return x * sigmoid(x); });
    case UnaryOp::Softplus:
      // softplus(x) = log(1 + exp(beta x)) / beta, linear above the threshold for stability.
      return run([a, b](T x) { return x * a > b ? x : std::log1p(std::exp(x * a)) / a; });
    case UnaryOp::Erf: return run([](T x) { return std::erf(x); });
    case UnaryOp::Floor: return run([](T x) { return std::floor(x); });
    case UnaryOp::Ceil: return run([](T x) { return std::ceil(x); });
    case UnaryOp::Round: return run([](T x) { return std::nearbyint(x); });  // half to even
    case UnaryOp::PowScalar: return run([a](T x) { return std::pow(x, a); });
    default: MOELAB_FAIL("unary: op ", static_cast<int>(op), " needs a floating dtype");
  }
}

template <class T>
void unary_numeric(UnaryOp op, const Tensor& out, const Tensor& in, const UnaryParams& p) {
  auto run = [&](auto f) { map_elements<T, T>(f, out, in); };
  switch (op) {
    case UnaryOp::Neg: return run([](T x) { return T(-x); });
    case UnaryOp::Abs: return run([](T x) { return x < T(0) ? T(-x) : x; });
    case UnaryOp::Sign: return run([](T x) { return T((T(0) < x) - (x < T(0))); });
    case UnaryOp::Square: return run([](T x) { return T(x * x); });
    case UnaryOp::Relu:
      return run([](T x) { return x > T(0) || x != x ? x : T(0); });  // NaN propagates
    case UnaryOp::Clamp: {
      // Bounds arrive as doubles; integer tensors clamp to the rounded-inward bound.
      const double lo = p.a, hi = p.b;
      return run([lo, hi](T x) {
        if (x != x) return x;
        double v = static_cast<double>(x);
        return v < lo ? static_cast<T>(lo) : v > hi ? static_cast<T>(hi) : x;
      });
    }
    default:
      if constexpr (std::is_floating_point_v<T>) return unary_float<T>(op, out, in, p);
      MOELAB_FAIL("unary: op ", static_cast<int>(op), " needs a floating dtype");
  }
}

template <class T>
void binary_arith(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  auto run = [&](auto f) { map_elements<T, T, T>(f, out, a, b); };
  switch (op) {
    case BinaryOp::Add: return run([](T x, T y) { return T(x + y); });
    case BinaryOp::Sub: return run([](T x, T y) { return T(x - y); });
    case BinaryOp::Mul: return run([](T x, T y) { return T(x * y); });
    case BinaryOp::Div:
      if constexpr (std::is_floating_point_v<T>) return run([](T x, T y) { return x / y; });
      break;
    case BinaryOp::Pow:
      if constexpr (std::is_floating_point_v<T>) return run([](T x, T y) { return std::pow(x, y); });
      else return run([](T x, T y) { return int_pow(x, y); });
    case BinaryOp::Maximum:
      return run([](T x, T y) { return x != x ? x : y != y ? y : (x > y ? x : y); });
    case BinaryOp::Minimum:
      return run([](T x, T y) { return x != x ? x : y != y ? y : (x < y ? x : y); });
    case BinaryOp::ReluBackward: return run([](T g, T y) { return y > T(0) ? g : T(0); });
    default: break;
  }
  MOELAB_FAIL("binary: op ", static_cast<int>(op), " is not defined for dtype ", dtype_v<T>);
}

template <class T>
void binary_compare(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  auto run = [&](auto f) { map_elements<bool, T, T>(f, out, a, b); };
  switch (op) {
    case BinaryOp::Eq: return run([](T x, T y) { return x == y; });
    case BinaryOp::Ne: return run([](T x, T y) { return x != y; });
    case BinaryOp::Lt: return run([](T x, T y) { return x < y; });
    case BinaryOp::Le: return run([](T x, T y) { return x <= y; });
    case BinaryOp::Gt: return run([](T x, T y) { return x > y; });
    case BinaryOp::Ge: return run([](T x, T y) { return x >= y; });
    case BinaryOp::LogicalAnd: return run([](T x, T y) { return x != T(0) && y != T(0); });
    case BinaryOp::LogicalOr: return run([](T x, T y) { return x != T(0) || y != T(0); });
    case BinaryOp::LogicalXor: return run([](T x, T y) { return (x != T(0)) != (y != T(0)); });
    default: MOELAB_FAIL("binary: op ", static_cast<int>(op), " is not a comparison");
  }
}

class CpuElementwiseKernels final : public ElementwiseKernels {
 public:
  void fill(const Tensor& out, Scalar value) override {
    visit_dtype(out.dtype(), "fill", [&]<class T>() {
      const T v = value.to<T>();
      map_elements<T>([v]() { return v; }, out);
    });
  }

  void copy(const Tensor& dst, const Tensor& src) override {
    MOELAB_CHECK(dst.device().is_cpu() && src.device().is_cpu(), "copy: cpu kernel got ", src.device(),
                 " -> ", dst.device());
    if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous()) {
      std::memcpy(dst.raw_data(), src.raw_data(), static_cast<size_t>(dst.numel()) * dst.element_size());
      return;
    }
    visit_dtype(dst.dtype(), "copy", [&]<class To>() {
      visit_dtype(src.dtype(), "copy", [&]<class From>() {
        map_elements<To, From>([](From x) { return convert<To>(x); }, dst, src);
      });
    });
  }

  void unary(UnaryOp op, const Tensor& out, const Tensor& in, const UnaryParams& p) override {
    if (is_predicate(op)) {
      visit_dtype<DTypes::NumericBool>(in.dtype(), "unary", [&]<class T>() {
        switch (op) {
          case UnaryOp::IsNan: return map_elements<bool, T>([](T x) { return x != x; }, out, in);
          case UnaryOp::IsFinite:
            return map_elements<bool, T>(
                [](T x) {
                  if constexpr (std::is_floating_point_v<T>) return std::isfinite(x);
                  else return true;
                },
                out, in);
          default: return map_elements<bool, T>([](T x) { return x == T(0); }, out, in);
        }
      });
      return;
    }
    visit_dtype<DTypes::Numeric>(in.dtype(), "unary", [&]<class T>() { unary_numeric<T>(op, out, in, p); });
  }

  void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) override {
    if (is_comparison(op)) {
      visit_dtype<DTypes::NumericBool>(a.dtype(), "binary", [&]<class T>() { binary_compare<T>(op, out, a, b); });
      return;
    }
    visit_dtype<DTypes::Numeric>(a.dtype(), "binary", [&]<class T>() { binary_arith<T>(op, out, a, b); });
  }

  void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) override {
    visit_dtype<DTypes::NumericBool>(out.dtype(), "where", [&]<class T>() {
      map_elements<T, bool, T, T>([](bool c, T x, T y) { return c ? x : y; }, out, cond, a, b);
    });
  }

  void swiglu(const Tensor& out, const Tensor& a, const Tensor& b) override { cpu::swiglu_kernel(out, a, b); }
  void swiglu_backward(const Tensor& ga, const Tensor& gb, const Tensor& g, const Tensor& a,
                       const Tensor& b) override {
    cpu::swiglu_backward_kernel(ga, gb, g, a, b);
  }
};

}  // namespace

ElementwiseKernels& cpu_elementwise_kernels() {
  static CpuElementwiseKernels k;
  return k;
}

}  // namespace moelab
