#include "moelab/ops/activation.h"

#include "moelab/ops/elementwise.h"
#include "moelab/ops/op_helpers.h"
#include "moelab/ops/softmax.h"

namespace moelab {
namespace {

Tensor checked(const Tensor& x, const char* op) {
  detail::check_defined(x, op);
  detail::check_floating(x, op);
  return x;
}

Tensor zero_like_scalar(const Tensor& x) { return scalar_tensor(0, x.dtype()); }

// clamp(x, lo, hi) whose gradient passes strictly inside (lo, hi), or also at the bounds when
// inclusive. (clamp's own gradient is inclusive; PyTorch's hardtanh-family backwards are not.)
Tensor masked_clamp(const Tensor& x, double lo, double hi, bool inclusive) {
  if (!x.requires_grad()) return clamp(x, lo, hi);
  Tensor xd = x.detach();
  Tensor inside = inclusive ? logical_and(xd >= lo, xd <= hi) : logical_and(xd > lo, xd < hi);
  return where(inside, x, clamp(xd, lo, hi));
}

// x > 0 ? x : alpha * (exp(x * input_scale) - 1). exp only sees x <= 0, so the branch that where()
// drops can never overflow into a NaN gradient (0 * inf). exp - 1 rather than expm1, as PyTorch's
// kernel: expm1's gradient (result + 1) would lose all precision for very negative x.
Tensor elu_impl(const Tensor& x, double alpha, double input_scale) {
  Tensor neg = clamp(x, std::nullopt, 0.0);
  if (input_scale != 1.0) neg = neg * input_scale;
  return where(x.detach() > 0, x, (exp(neg) - 1.0) * alpha);
}

}  // namespace

Tensor leaky_relu(const Tensor& x, double negative_slope) {
  checked(x, "leaky_relu");
  return where(x.detach() > 0, x, x * negative_slope);
}

Tensor elu(const Tensor& x, double alpha) { return elu_impl(checked(x, "elu"), alpha, 1.0); }

Tensor selu(const Tensor& x) {
  constexpr double alpha = 1.6732632423543772848170429916717;
  constexpr double scale = 1.0507009873554804934193349852946;
  return elu_impl(checked(x, "selu"), alpha, 1.0) * scale;
}

Tensor celu(const Tensor& x, double alpha) {
  checked(x, "celu");
  MOELAB_CHECK(alpha != 0, "celu: alpha must be non-zero");
  return elu_impl(x, alpha, 1.0 / alpha);
}

Tensor hardtanh(const Tensor& x, double min_val, double max_val) {
  return masked_clamp(checked(x, "hardtanh"), min_val, max_val, /*inclusive=*/false);
}

Tensor relu6(const Tensor& x) { return masked_clamp(checked(x, "relu6"), 0.0, 6.0, false); }

Tensor hardsigmoid(const Tensor& x) {
  // PyTorch's gradient is 1/6 strictly inside (-3, 3).
  return masked_clamp(checked(x, "hardsigmoid"), -3.0, 3.0, false) * (1.0 / 6) + 0.5;
}

Tensor hardswish(const Tensor& x) {
  // x * hardsigmoid(x) with the sigmoid's slope kept at +-3: PyTorch's gradient there is x/3 + 1/2.
  return x * (masked_clamp(checked(x, "hardswish"), -3.0, 3.0, true) * (1.0 / 6) + 0.5);
}

Tensor mish(const Tensor& x) { return x * tanh(softplus(checked(x, "mish"))); }

Tensor logsigmoid(const Tensor& x) {
  checked(x, "logsigmoid");
  // min(x, 0) - log1p(exp(-|x|)), with -|x| written so that its slope at 0 is -1: the gradient at 0
  // is then 1/2, as PyTorch's.
  Tensor negative = x.detach() < 0;
  Tensor minus_abs = where(negative, x, -x);
  return where(negative, x, zero_like_scalar(x)) - log1p(exp(minus_abs));
}

Tensor softsign(const Tensor& x) { return x / (abs(checked(x, "softsign")) + 1.0); }

Tensor tanhshrink(const Tensor& x) { return x - tanh(checked(x, "tanhshrink")); }

Tensor softshrink(const Tensor& x, double lambd) {
  checked(x, "softshrink");
  MOELAB_CHECK(lambd >= 0, "softshrink: lambd must be >= 0, got ", lambd);
  return x - masked_clamp(x, -lambd, lambd, /*inclusive=*/true);
}

Tensor hardshrink(const Tensor& x, double lambd) {
  checked(x, "hardshrink");
  return where(abs(x.detach()) > lambd, x, zero_like_scalar(x));
}

Tensor threshold(const Tensor& x, double threshold, double value) {
  checked(x, "threshold");
  return where(x.detach() > threshold, x, scalar_tensor(value, x.dtype()));
}

Tensor glu(const Tensor& x, int64_t dim) {
  checked(x, "glu");
  MOELAB_CHECK(x.dim() > 0, "glu: a 0-d input cannot be halved");
  MOELAB_CHECK(dim >= -x.dim() && dim < x.dim(), "glu: dim ", dim, " is out of range for input of shape ", x.shape());
  const int64_t d = dim < 0 ? dim + x.dim() : dim;
  const int64_t n = x.size(d);
  MOELAB_CHECK(n % 2 == 0, "glu: dimension ", d, " of input ", x.shape(), " must have an even size, got ", n);
  return x.narrow(d, 0, n / 2) * sigmoid(x.narrow(d, n / 2, n / 2));
}

Tensor softmin(const Tensor& x, int64_t dim) { return softmax(-checked(x, "softmin"), dim); }

Tensor prelu(const Tensor& x, const Tensor& weight) {
  checked(x, "prelu");
  detail::check_defined(weight, "prelu", "weight");
  detail::check_same_device({&x, &weight}, "prelu");
  const int64_t channels = x.dim() >= 2 ? x.size(1) : 1;
  MOELAB_CHECK(weight.dim() <= 1 && (weight.numel() == 1 || weight.numel() == channels),
               "prelu: weight of shape ", weight.shape(), " must hold 1 value or one per channel (", channels,
               ") of input ", x.shape());
  Tensor w = weight;
  if (weight.numel() == 1) {
    w = weight.reshape({});
  } else {
    // [C] -> [C, 1, ..., 1] to broadcast over dim 1 and the trailing dims.
    Shape s = Shape::filled(x.dim() - 1, 1);
    s[0] = channels;
    w = weight.reshape(s);
  }
  return where(x.detach() > 0, x, x * w);
}

}  // namespace moelab
