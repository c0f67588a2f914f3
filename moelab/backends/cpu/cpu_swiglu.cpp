// The fused SwiGLU kernels of the CPU backend (ElementwiseKernels::swiglu and swiglu_backward):
// out = silu(a) * b, and both gradients in one pass.
//
// The f32 loops are cloned for AVX-512, AVX2 + FMA and baseline SSE2 (MOELAB_SIMD_CLONES in
// vec_math.h); moelab is otherwise built for baseline x86-64, where these loops run 4 lanes wide.
#include <cmath>
#include <cstdint>
#include <utility>

#include "moelab/backends/cpu/cpu_swiglu.h"
#include "moelab/backends/cpu/vec_math.h"
#include "moelab/core/error.h"
#include "moelab/core/parallel.h"

namespace moelab::cpu {
namespace {

// sigmoid: vec_math.h's branch-free sigmoid_f32 for f32 (vectorises; exact limits, NaN stays NaN),
// std::exp for f64.
inline float sigmoid_of(float x) { return sigmoid_f32(x); }
inline double sigmoid_of(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// d out / d a: the derivative of silu(a) = a s is s (1 + a (1 - s)).
template <class T>
inline T d_gate(T g, T x, T b, T s) {
  return g * b * s * (T(1) + x * (T(1) - s));
}

// The loops, over n contiguous elements; __restrict so that they vectorise without overlap checks.
// In the backward, ga may be g itself (each element is read before it is written): that case has its
// own loops, which name one pointer for both. Cloned per ISA for both dtypes (only f32 gains: f64's
// std::exp is a call).
template <class T>
MOELAB_SIMD_CLONES void forward(const T* __restrict a, const T* __restrict b, T* __restrict out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] * sigmoid_of(a[i]) * b[i];
}
template <class T>
MOELAB_SIMD_CLONES void grads(const T* __restrict g, const T* __restrict a, const T* __restrict b, T* __restrict ga,
                              T* __restrict gb, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const T x = a[i], s = sigmoid_of(x);
    ga[i] = d_gate(g[i], x, b[i], s);
    gb[i] = g[i] * x * s;
  }
}
template <class T>
MOELAB_SIMD_CLONES void grads_inplace(T* __restrict g, const T* __restrict a, const T* __restrict b, T* __restrict gb,
                                      int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const T x = a[i], s = sigmoid_of(x), gi = g[i];
    g[i] = d_gate(gi, x, b[i], s);
    gb[i] = gi * x * s;
  }
}
template <class T>
MOELAB_SIMD_CLONES void grad_gate(const T* __restrict g, const T* __restrict a, const T* __restrict b,
                                  T* __restrict ga, int64_t n) {
  for (int64_t i = 0; i < n; ++i) ga[i] = d_gate(g[i], a[i], b[i], sigmoid_of(a[i]));
}
template <class T>
MOELAB_SIMD_CLONES void grad_gate_inplace(T* __restrict g, const T* __restrict a, const T* __restrict b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) g[i] = d_gate(g[i], a[i], b[i], sigmoid_of(a[i]));
}
template <class T>
MOELAB_SIMD_CLONES void grad_up(const T* __restrict g, const T* __restrict a, T* __restrict gb, int64_t n) {
  for (int64_t i = 0; i < n; ++i) gb[i] = g[i] * a[i] * sigmoid_of(a[i]);
}

template <class T>
void backward(const T* g, const T* a, const T* b, T* ga, T* gb, int64_t n) {
  if (ga && gb) ga == g ? grads_inplace(ga, a, b, gb, n) : grads(g, a, b, ga, gb, n);
  else if (ga) ga == g ? grad_gate_inplace(ga, a, b, n) : grad_gate(g, a, b, ga, n);
  else grad_up(g, a, gb, n);
}

void check_operand(const Tensor& t, const Tensor& a, const char* op, const char* name) {
  MOELAB_CHECK(t.is_contiguous() && t.shape() == a.shape() && t.dtype() == a.dtype() && t.device().is_cpu(), op,
               ": ", name, " must be a contiguous CPU tensor of a's shape ", a.shape(), " and dtype ", a.dtype());
}

}  // namespace

void swiglu_kernel(const Tensor& out, const Tensor& a, const Tensor& b) {
  MOELAB_CHECK(a.dtype() == kF32 || a.dtype() == kF64, "swiglu: f32 or f64 only, got ", a.dtype());
  for (const auto& [t, name] : {std::pair{&a, "a"}, {&b, "b"}, {&out, "out"}}) check_operand(*t, a, "swiglu", name);
  visit_dtype<DTypes::Float>(a.dtype(), "swiglu", [&]<class T>() {
    const T *pa = a.data_ptr<T>(), *pb = b.data_ptr<T>();
    T* po = out.data_ptr<T>();
    parallel_for(0, a.numel(), kElementwiseGrain,
                 [&](int64_t i0, int64_t i1) { forward(pa + i0, pb + i0, po + i0, i1 - i0); });
  });
}

void swiglu_backward_kernel(const Tensor& ga, const Tensor& gb, const Tensor& g, const Tensor& a, const Tensor& b) {
  MOELAB_CHECK(a.dtype() == kF32 || a.dtype() == kF64, "swiglu backward: f32 or f64 only, got ", a.dtype());
  MOELAB_CHECK(ga.defined() || gb.defined(), "swiglu backward: neither gradient asked for");
  for (const auto& [t, name] : {std::pair{&b, "b"}, {&g, "g"}}) check_operand(*t, a, "swiglu backward", name);
  if (ga.defined()) check_operand(ga, a, "swiglu backward", "ga");
  if (gb.defined()) check_operand(gb, a, "swiglu backward", "gb");
  visit_dtype<DTypes::Float>(a.dtype(), "swiglu backward", [&]<class T>() {
    const T *pg = g.data_ptr<T>(), *pa = a.data_ptr<T>(), *pb = b.data_ptr<T>();
    T* pga = ga.defined() ? ga.data_ptr<T>() : nullptr;
    T* pgb = gb.defined() ? gb.data_ptr<T>() : nullptr;
    parallel_for(0, a.numel(), kElementwiseGrain, [&](int64_t i0, int64_t i1) {
      backward<T>(pg + i0, pa + i0, pb + i0, pga ? pga + i0 : nullptr, pgb ? pgb + i0 : nullptr, i1 - i0);
    });
  });
}

}  // namespace moelab::cpu
