#include "moelab/nn/init.h"

#include <cmath>

#include "moelab/autograd/grad_mode.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/linalg_decomp.h"
#include "moelab/ops/linalg.h"
#include "moelab/ops/random.h"
#include "moelab/ops/reduce.h"

namespace moelab::nn::init {

std::pair<int64_t, int64_t> fans(const Tensor& w) {
  MOELAB_CHECK(w.dim() >= 2, "init: fan in and fan out need a weight with at least 2 dims, got shape ", w.shape());
  int64_t receptive = 1;
  for (int d = 2; d < w.dim(); ++d) receptive *= w.size(d);
  return {w.size(1) * receptive, w.size(0) * receptive};
}

double calculate_gain(std::string_view nonlinearity, double param) {
  if (nonlinearity == "linear" || nonlinearity == "sigmoid" || nonlinearity.starts_with("conv")) return 1.0;
  if (nonlinearity == "tanh") return 5.0 / 3.0;
  if (nonlinearity == "relu") return std::sqrt(2.0);
  if (nonlinearity == "leaky_relu") return std::sqrt(2.0 / (1 + param * param));
  MOELAB_FAIL("calculate_gain: unknown nonlinearity \"", nonlinearity, "\"");
}

Tensor& uniform_(Tensor& t, double a, double b, Generator* gen) {
  autograd::NoGradGuard no_grad;
  return moelab::uniform_(t, a, b, gen);
}

Tensor& normal_(Tensor& t, double mean, double std, Generator* gen) {
  autograd::NoGradGuard no_grad;
  return moelab::normal_(t, mean, std, gen);
}

Tensor& constant_(Tensor& t, double value) {
  autograd::NoGradGuard no_grad;
  t.fill_(value);
  return t;
}
Tensor& zeros_(Tensor& t) { return constant_(t, 0); }
Tensor& ones_(Tensor& t) { return constant_(t, 1); }

Tensor& trunc_normal_(Tensor& t, double mean, double std, double a, double b, Generator* gen) {
  MOELAB_CHECK(a < b, "trunc_normal_: the bounds must satisfy a < b, got ", a, " and ", b);
  autograd::NoGradGuard no_grad;
  moelab::normal_(t, mean, std, gen);
  // Redraw the values outside [a, b]; each round keeps the in-range ones, so this ends quickly
  // unless the interval holds almost no mass.
  for (int round = 0; round < 100; ++round) {
    Tensor outside = logical_or(t < a, t > b);
    if (!any(outside).item<bool>()) return t;
    Tensor fresh = empty_like(t);
    moelab::normal_(fresh, mean, std, gen);
    t.copy_(where(outside, fresh, t));
  }
  MOELAB_FAIL("trunc_normal_: [", a, ", ", b, "] holds too little of Normal(", mean, ", ", std, ")");
}

namespace {
double kaiming_std(const Tensor& t, double a, std::string_view mode, std::string_view nonlinearity) {
  MOELAB_CHECK(mode == "fan_in" || mode == "fan_out", "kaiming: mode must be \"fan_in\" or \"fan_out\", got \"", mode,
               "\"");
  auto [fan_in, fan_out] = fans(t);
  int64_t fan = mode == "fan_in" ? fan_in : fan_out;
  MOELAB_CHECK(fan > 0, "kaiming: the weight of shape ", t.shape(), " has a zero fan");
  return calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan));
}
}  // namespace

Tensor& kaiming_uniform_(Tensor& t, double a, std::string_view mode, std::string_view nonlinearity, Generator* gen) {
  double bound = std::sqrt(3.0) * kaiming_std(t, a, mode, nonlinearity);
  return init::uniform_(t, -bound, bound, gen);
}

Tensor& kaiming_normal_(Tensor& t, double a, std::string_view mode, std::string_view nonlinearity, Generator* gen) {
  return init::normal_(t, 0, kaiming_std(t, a, mode, nonlinearity), gen);
}

Tensor& xavier_uniform_(Tensor& t, double gain, Generator* gen) {
  auto [fan_in, fan_out] = fans(t);
  double bound = gain * std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  return init::uniform_(t, -bound, bound, gen);
}

Tensor& xavier_normal_(Tensor& t, double gain, Generator* gen) {
  auto [fan_in, fan_out] = fans(t);
  return init::normal_(t, 0, gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out)), gen);
}

Tensor& orthogonal_(Tensor& t, double gain, Generator* gen) {
  MOELAB_CHECK(t.dim() >= 2, "orthogonal_: only tensors with 2 or more dims are supported, got shape ", t.shape());
  MOELAB_CHECK(is_floating(t.dtype()), "orthogonal_: needs a floating tensor, got ", t.dtype());
  autograd::NoGradGuard no_grad;
  const int64_t rows = t.size(0), cols = rows > 0 ? t.numel() / rows : 0;
  if (t.numel() == 0) return t;
  // QR in f64 whatever t's dtype, drawn as torch draws it: [rows, cols] normal, transposed if wide.
  Tensor a = empty({rows, cols}, kF64);
  moelab::normal_(a, 0, 1, gen);
  if (rows < cols) a = a.transpose(0, 1);
  const linalg::QRResult f = linalg::qr(a.contiguous());
  Tensor q = f.Q * sign(einsum("ii->i", {f.R})).unsqueeze(0);
  if (rows < cols) q = q.transpose(0, 1);
  t.copy_((q * gain).reshape(t.shape()).to(t.dtype()));
  return t;
}

}  // namespace moelab::nn::init
