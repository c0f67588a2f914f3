// Random ops: argument checks, counter reservation on the Generator, then the backend's Philox
// kernels (RandomKernels). Random ops have no gradient with respect to their parameters here:
// nothing they return requires grad, and an in-place fill ends the history of the tensor it fills.
#include "moelab/ops/random.h"

#include <cmath>
#include <limits>

#include "moelab/autograd/function.h"
#include "moelab/backends/random_kernels.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/op_helpers.h"
#include "moelab/ops/reduce.h"
#include "moelab/ops/sort.h"

namespace moelab {
using detail::backend_of;

namespace {

Generator& gen_or_default(Generator* gen) { return gen ? *gen : default_generator(); }
bool is_half(DType t) { return t == kBF16 || t == kF16; }

// Runs fill(tensor) on t, or on an f32 copy for 16-bit storage dtypes, then writes back.
template <class F>
Tensor& fill_floating(Tensor& t, const char* op, F&& fill) {
  detail::check_defined(t, op, "self");
  MOELAB_CHECK(is_floating(t.dtype()), op, ": expected a floating tensor, got ", t.dtype(), " (shape ",
               t.shape(), ")");
  const bool recording = autograd::needs_grad({&t});
  autograd::check_inplace(t, op, recording);
  {
    autograd::NoGradGuard no_grad;
    if (is_half(t.dtype())) {
      Tensor tmp = make_empty(t.shape(), kF32, t.device());
      fill(tmp);
      t.copy_(tmp);
    } else {
      fill(t);
      t.storage()->bump_version();
    }
  }
  // Random values are constants: the old history ends here, as with fill_.
  if (recording) autograd::record_op(op, {}, {&t}, {}, [](auto&, const auto&) { return std::vector<Tensor>{}; });
  return t;
}

void check_floating_opts(TensorOptions opts, const char* op) {
  MOELAB_CHECK(is_floating(opts.dtype), op, ": expected a floating dtype, got ", opts.dtype);
}

}  // namespace

Tensor& uniform_(Tensor& t, double from, double to, Generator* gen) {
  MOELAB_CHECK(std::isfinite(from) && std::isfinite(to) && from <= to,
               "uniform_: expects a finite range with from <= to, got [", from, ", ", to, ")");
  return fill_floating(t, "uniform_", [&](const Tensor& out) {
    PhiloxState s = gen_or_default(gen).reserve(draw_blocks(RandomDraw::Uniform, out.dtype(), out.numel()));
    backend_of(out).random().uniform(out, from, to, s);
  });
}

Tensor& normal_(Tensor& t, double mean, double std, Generator* gen) {
  MOELAB_CHECK(std >= 0 && std::isfinite(std), "normal_: expects std >= 0, got ", std);
  return fill_floating(t, "normal_", [&](const Tensor& out) {
    PhiloxState s = gen_or_default(gen).reserve(draw_blocks(RandomDraw::Normal, out.dtype(), out.numel()));
    backend_of(out).random().normal(out, mean, std, s);
  });
}

Tensor rand(const Shape& shape, TensorOptions opts, Generator* gen) {
  check_floating_opts(opts, "rand");
  Tensor t = empty(shape, opts);
  return uniform_(t, 0, 1, gen);
}

Tensor randn(const Shape& shape, TensorOptions opts, Generator* gen) {
  check_floating_opts(opts, "randn");
  Tensor t = empty(shape, opts);
  return normal_(t, 0, 1, gen);
}

Tensor rand_like(const Tensor& t, Generator* gen) {
  detail::check_defined(t, "rand_like");
  return rand(t.shape(), {t.dtype(), t.device()}, gen);
}

Tensor randn_like(const Tensor& t, Generator* gen) {
  detail::check_defined(t, "randn_like");
  return randn(t.shape(), {t.dtype(), t.device()}, gen);
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions opts, Generator* gen) {
  MOELAB_CHECK(low < high, "randint: expects low < high, got low=", low, " and high=", high);
  MOELAB_CHECK(opts.dtype != kBool && !is_half(opts.dtype), "randint: dtype ", opts.dtype, " is not supported");
  if (opts.dtype == kI32)
    MOELAB_CHECK(low >= std::numeric_limits<int32_t>::min() && high - 1 <= std::numeric_limits<int32_t>::max(),
                 "randint: [", low, ", ", high, ") does not fit in i32");
  Tensor t = empty(shape, opts);
  const uint64_t range = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);
  PhiloxState s = gen_or_default(gen).reserve(draw_blocks(RandomDraw::Int, opts.dtype, t.numel()));
  backend_for(opts.device).random().random_int(t, low, range, s);
  return t;
}

Tensor randint(int64_t high, const Shape& shape, TensorOptions opts, Generator* gen) {
  return randint(0, high, shape, opts, gen);
}

Tensor randperm(int64_t n, TensorOptions opts, Generator* gen) {
  MOELAB_CHECK(n >= 0, "randperm: n must be non-negative, got ", n);
  // Sorting i.i.d. keys gives every order with equal probability (ties, 2^-63 likely, go by index).
  Tensor keys = randint(0, std::numeric_limits<int64_t>::max(), {n}, TensorOptions(kI64, opts.device), gen);
  return argsort(keys).to(opts.dtype);
}

Tensor bernoulli(const Tensor& p, Generator* gen) {
  detail::check_defined(p, "bernoulli");
  autograd::NoGradGuard no_grad;  // samples carry no gradient to p
  MOELAB_CHECK(is_floating(p.dtype()), "bernoulli: expected floating probabilities, got ", p.dtype());
  if (p.numel() > 0) {
    const double lo = amin(p).to(kF64).item<double>(), hi = amax(p).to(kF64).item<double>();
    MOELAB_CHECK(lo >= 0 && hi <= 1, "bernoulli: expects all probabilities in [0, 1], got values in [", lo, ", ",
                 hi, "] (shape ", p.shape(), ")");
  }
  const DType u_dtype = p.dtype() == kF64 ? kF64 : kF32;
  return lt(rand(p.shape(), {u_dtype, p.device()}, gen), p.to(u_dtype)).to(p.dtype());
}

Tensor bernoulli(const Tensor& x, double p, Generator* gen) {
  detail::check_defined(x, "bernoulli");
  autograd::NoGradGuard no_grad;
  MOELAB_CHECK(p >= 0 && p <= 1, "bernoulli: expects p in [0, 1], got ", p);
  const DType u_dtype = x.dtype() == kF64 ? kF64 : kF32;
  return lt(rand(x.shape(), {u_dtype, x.device()}, gen), scalar_tensor(p, u_dtype)).to(x.dtype());
}

Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement, Generator* gen) {
  detail::check_defined(probs, "multinomial");
  autograd::NoGradGuard no_grad;  // indices: no gradient
  MOELAB_CHECK(probs.dim() == 1 || probs.dim() == 2, "multinomial: probs must be 1-d or 2-d, got shape ",
               probs.shape());
  MOELAB_CHECK(is_floating(probs.dtype()), "multinomial: expected floating probabilities, got ", probs.dtype());
  MOELAB_CHECK(num_samples > 0, "multinomial: num_samples must be positive, got ", num_samples);
  Tensor p2 = probs.dim() == 1 ? probs.unsqueeze(0) : probs;
  p2 = (is_half(p2.dtype()) ? p2.to(kF32) : p2).contiguous();
  const int64_t rows = p2.size(0), n = p2.size(1);
  MOELAB_CHECK(n > 0, "multinomial: probs has no categories (shape ", probs.shape(), ")");
  MOELAB_CHECK(replacement || num_samples <= n, "multinomial: cannot draw ", num_samples,
               " samples without replacement from ", n, " categories (shape ", probs.shape(), ")");
  if (rows > 0) {
    MOELAB_CHECK(all(isfinite(p2)).item<bool>() && amin(p2).to(kF64).item<double>() >= 0,
                 "multinomial: probabilities must be finite and non-negative (shape ", probs.shape(), ")");
    MOELAB_CHECK(amin(sum(p2, {1})).to(kF64).item<double>() > 0,
                 "multinomial: every row of probs must have a positive sum (shape ", probs.shape(), ")");
    if (!replacement) {
      const int64_t fewest = amin(sum(gt(p2, scalar_tensor(0.0, p2.dtype())), {1})).item<int64_t>();
      MOELAB_CHECK(fewest >= num_samples, "multinomial: a row has only ", fewest,
                   " non-zero categories, too few for ", num_samples, " samples without replacement");
    }
  }
  Tensor out = make_empty({rows, num_samples}, kI64, probs.device());
  PhiloxState s = gen_or_default(gen).reserve(multinomial_blocks(rows, n, num_samples, replacement));
  if (rows > 0) backend_of(p2).random().multinomial(out, p2, replacement, s);
  return probs.dim() == 1 ? out.view({num_samples}) : out;
}

}  // namespace moelab
