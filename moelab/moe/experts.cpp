#include "moelab/moe/experts.h"

#include <cmath>
#include <cstdint>
#include <cstring>

#include "moelab/autograd/function.h"
#include "moelab/core/error.h"
#include "moelab/core/parallel.h"
#include "moelab/moe/grouped_gemm.h"
#include "moelab/nn/init.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"

namespace moelab::moe {

ExpertActivation parse_expert_activation(const std::string& name, const char* op) {
  if (name == "relu") return ExpertActivation::kReLU;
  if (name == "gelu") return ExpertActivation::kGELU;
  if (name == "silu") return ExpertActivation::kSiLU;
  if (name == "swiglu") return ExpertActivation::kSwiGLU;
  MOELAB_FAIL(op, ": activation must be \"relu\", \"gelu\", \"silu\" or \"swiglu\", got \"", name, "\"");
}

namespace {

// Runs fn(i0, i1) over [0, n) in chunks (elementwise grain).
template <class Fn>
void for_chunks(int64_t n, const Fn& fn) {
  if (n > 0) parallel_for(0, n, kElementwiseGrain, fn);
}

template <class T>
inline T sigmoid_of(T v) {
  return T(1) / (T(1) + std::exp(-v));
}

// The element loops (f64: plain loops over std::exp).
template <class T>
void swiglu_rows(const T* a, const T* b, T* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] * sigmoid_of(a[i]) * b[i];
}

// ga = g * b * s * (1 + a (1 - s)), gb = g * a * s, s = sigmoid(a).
template <class T>
void swiglu_grad_rows(const T* g, const T* a, const T* b, T* ga, T* gb, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const T s = sigmoid_of(a[i]);
    ga[i] = g[i] * b[i] * s * (T(1) + a[i] * (T(1) - s));
    gb[i] = g[i] * a[i] * s;
  }
}

// f32: four lanes at a time (GCC/Clang vector extensions; SSE2 is the x86-64 baseline). The
// sigmoid uses Cephes' expf (range reduction by ln 2, degree-6 polynomial, relative error ~2e-7 on
// the clamped range): std::exp keeps loops scalar, and the gate would then cost ~10% of an MoE
// layer's training step.
using F4 = float __attribute__((vector_size(16)));
using I4 = int32_t __attribute__((vector_size(16)));

inline F4 load4(const float* p) {
  F4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store4(float* p, F4 v) { std::memcpy(p, &v, sizeof v); }

// Lanes of x outside [lo, hi] replaced by the bound (bitwise selects: GCC and Clang alike).
inline F4 clamp4(F4 x, float lo, float hi) {
  const F4 l = F4{} + lo, h = F4{} + hi;
  const I4 below = x < l, above = x > h;  // -1 in the lanes where true
  I4 xi = reinterpret_cast<I4>(x);
  xi = (xi & ~below) | (reinterpret_cast<I4>(l) & below);
  xi = (xi & ~above) | (reinterpret_cast<I4>(h) & above);
  return reinterpret_cast<F4>(xi);
}

inline F4 sigmoid4(F4 v) {
  const F4 x = clamp4(-v, -87.0f, 88.0f);
  const F4 n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round(x / ln 2)
  const F4 r = x - n * 0.693359375f + n * 2.12194440e-4f;
  F4 p = r * 1.9875691500e-4f + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const F4 e = (p * r * r + r + 1.0f) * reinterpret_cast<F4>((__builtin_convertvector(n, I4) + 127) << 23);
  return 1.0f / (1.0f + e);
}
inline float sigmoid1(float v) { return sigmoid4(F4{v, v, v, v})[0]; }  // the same numbers for the tail

template <>
void swiglu_rows<float>(const float* a, const float* b, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const F4 va = load4(a + i);
    store4(out + i, va * sigmoid4(va) * load4(b + i));
  }
  for (; i < n; ++i) out[i] = a[i] * sigmoid1(a[i]) * b[i];
}

template <>
void swiglu_grad_rows<float>(const float* g, const float* a, const float* b, float* ga, float* gb, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const F4 vg = load4(g + i), va = load4(a + i), s = sigmoid4(va);
    store4(ga + i, vg * load4(b + i) * s * (1.0f + va * (1.0f - s)));
    store4(gb + i, vg * va * s);
  }
  for (; i < n; ++i) {
    const float s = sigmoid1(a[i]);
    ga[i] = g[i] * b[i] * s * (1.0f + a[i] * (1.0f - s));
    gb[i] = g[i] * a[i] * s;
  }
}

// The fused one-pass backward (both gradients are computed; one is dropped when not needed).
std::vector<Tensor> swiglu_backward_fused(const Tensor& g_in, const Tensor& a_in, const Tensor& b_in, bool need_a,
                                          bool need_b) {
  autograd::NoGradGuard no_grad;
  const Tensor g = g_in.contiguous(), a = a_in.contiguous(), b = b_in.contiguous();
  Tensor ga = make_empty(a.shape(), a.dtype());
  Tensor gb = make_empty(a.shape(), a.dtype());
  visit_dtype<DTypes::Float>(a.dtype(), "swiglu", [&]<class T>() {
    const T* pg = g.data_ptr<T>();
    const T* pa = a.data_ptr<T>();
    const T* pb = b.data_ptr<T>();
    T* pga = ga.data_ptr<T>();
    T* pgb = gb.data_ptr<T>();
    for_chunks(a.numel(), [=](int64_t i0, int64_t i1) {
      swiglu_grad_rows<T>(pg + i0, pa + i0, pb + i0, pga + i0, pgb + i0, i1 - i0);
    });
  });
  return {need_a ? ga : Tensor(), need_b ? gb : Tensor()};
}

}  // namespace

Tensor swiglu(const Tensor& a, const Tensor& b) {
  MOELAB_CHECK(a.defined() && b.defined(), "swiglu: a and b must be defined");
  MOELAB_CHECK(a.shape() == b.shape(), "swiglu: a and b must have one shape, got ", a.shape(), " and ", b.shape());
  MOELAB_CHECK(a.dtype() == b.dtype() && (a.dtype() == kF32 || a.dtype() == kF64),
               "swiglu: a and b must be both f32 or both f64, got ", a.dtype(), " and ", b.dtype());
  MOELAB_CHECK(a.device().is_cpu() && b.device().is_cpu(), "swiglu: CPU tensors only, got ", a.device(), " and ",
               b.device());
  Tensor out;
  {
    autograd::NoGradGuard no_grad;
    const Tensor ac = a.contiguous(), bc = b.contiguous();
    out = make_empty(a.shape(), a.dtype());
    visit_dtype<DTypes::Float>(a.dtype(), "swiglu", [&]<class T>() {
      const T* pa = ac.data_ptr<T>();
      const T* pb = bc.data_ptr<T>();
      T* po = out.data_ptr<T>();
      for_chunks(a.numel(), [=](int64_t i0, int64_t i1) { swiglu_rows<T>(pa + i0, pb + i0, po + i0, i1 - i0); });
    });
  }
  if (autograd::needs_grad({&a, &b}))
    autograd::record_op("swiglu", {&a, &b}, {&out}, {autograd::SavedVariable(a, false), autograd::SavedVariable(b, false)},
                        [](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
                          const Tensor& sa = c.saved(0);
                          const Tensor& sb = c.saved(1);
                          if (!autograd::needs_grad({&g[0], &sa, &sb}))
                            return swiglu_backward_fused(g[0], sa, sb, c.needs_input_grad(0), c.needs_input_grad(1));
                          // create_graph: the same formula from differentiable ops.
                          const Tensor s = sigmoid(sa);
                          Tensor ga, gb;
                          if (c.needs_input_grad(0)) ga = g[0] * sb * s * (1.0 + sa * (1.0 - s));
                          if (c.needs_input_grad(1)) gb = g[0] * sa * s;
                          return std::vector<Tensor>{ga, gb};
                        });
  return out;
}

namespace {
const ExpertOptions& checked(const ExpertOptions& o) {
  MOELAB_CHECK(o.num_experts > 0, "ExpertFFN: num_experts must be positive, got ", o.num_experts);
  MOELAB_CHECK(o.d_model > 0, "ExpertFFN: d_model must be positive, got ", o.d_model);
  MOELAB_CHECK(o.d_ff > 0, "ExpertFFN: d_ff must be positive, got ", o.d_ff);
  MOELAB_CHECK(o.dtype == kF32 || o.dtype == kF64, "ExpertFFN: dtype must be f32 or f64, got ", o.dtype);
  return o;
}
}  // namespace

ExpertFFN::ExpertFFN(const ExpertOptions& o)
    : nn::Module("ExpertFFN"),
      opts_(checked(o)),
      act_(parse_expert_activation(o.activation)),
      w1_(register_parameter("w1", empty({o.num_experts, o.d_model, o.d_ff}, o.dtype))),
      w2_(register_parameter("w2", empty({o.num_experts, o.d_ff, o.d_model}, o.dtype))),
      w3_(act_ == ExpertActivation::kSwiGLU ? register_parameter("w3", empty({o.num_experts, o.d_model, o.d_ff}, o.dtype))
                                            : register_buffer("w3", Tensor())) {
  reset_parameters();
}

ExpertFFN::ExpertFFN(int64_t num_experts, int64_t d_model, int64_t d_ff, const std::string& activation, DType dtype)
    : ExpertFFN(ExpertOptions{num_experts, d_model, d_ff, activation, dtype}) {}

void ExpertFFN::reset_parameters() {
  const double b_in = 1.0 / std::sqrt(static_cast<double>(opts_.d_model));
  const double b_ff = 1.0 / std::sqrt(static_cast<double>(opts_.d_ff));
  nn::init::uniform_(w1_, -b_in, b_in);
  nn::init::uniform_(w2_, -b_ff, b_ff);
  if (w3_.defined()) nn::init::uniform_(w3_, -b_in, b_in);
}

Tensor ExpertFFN::forward(const Tensor& xs, const std::vector<int64_t>& offsets) {
  MOELAB_CHECK(xs.defined() && xs.dim() == 2 && xs.size(1) == opts_.d_model,
               "ExpertFFN: expected dispatched tokens [N, d_model = ", opts_.d_model, "], got ",
               xs.defined() ? xs.shape() : Shape{});
  MOELAB_CHECK(xs.dtype() == opts_.dtype, "ExpertFFN: tokens of dtype ", xs.dtype(), " for experts of dtype ",
               opts_.dtype);
  MOELAB_CHECK(static_cast<int64_t>(offsets.size()) == opts_.num_experts + 1, "ExpertFFN: offsets must have E + 1 = ",
               opts_.num_experts + 1, " entries, got ", offsets.size());
  // grouped_matmul validates the offsets themselves against N.
  const Tensor h1 = grouped_matmul(xs, w1_, offsets);
  Tensor h;
  switch (act_) {
    case ExpertActivation::kReLU: h = relu(h1); break;
    case ExpertActivation::kGELU: h = gelu(h1); break;
    case ExpertActivation::kSiLU: h = silu(h1); break;
    case ExpertActivation::kSwiGLU: h = swiglu(h1, grouped_matmul(xs, w3_, offsets)); break;
  }
  return grouped_matmul(h, w2_, offsets);
}

}  // namespace moelab::moe
