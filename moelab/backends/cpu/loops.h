// Strided N-ary loops for CPU kernels. A loop plan merges the dims that are contiguous for every
// operand into one, so a contiguous (or contiguously broadcast) op runs as one flat inner loop the
// compiler vectorises; only truly strided layouts pay for the multi-dimensional walk.
#pragma once
#include <array>
#include <cstdint>
#include <tuple>
#include <utility>

#include "moelab/core/parallel.h"
#include "moelab/core/tensor.h"

namespace moelab::cpu {

template <int NT>
struct LoopPlan {
  int ndim = 0;                      // dims after merging; dim 0 is the innermost
  int64_t shape[kMaxDims] = {};
  int64_t strides[NT][kMaxDims] = {};  // in bytes
  char* base[NT] = {};
  int64_t numel = 1;

  // tensors[0] is usually the output; all have the same shape.
  explicit LoopPlan(const std::array<const Tensor*, NT>& tensors) {
    const Shape& s = tensors[0]->shape();
    for (int t = 0; t < NT; ++t) base[t] = static_cast<char*>(tensors[t]->raw_data());
    for (int d = s.size() - 1; d >= 0; --d) {
      if (s[d] == 1) continue;
      numel *= s[d];
      int64_t st[NT];
      for (int t = 0; t < NT; ++t)
        st[t] = tensors[t]->strides()[d] * static_cast<int64_t>(tensors[t]->element_size());
      if (ndim > 0) {
        bool mergeable = true;
        for (int t = 0; t < NT; ++t) mergeable &= st[t] == strides[t][ndim - 1] * shape[ndim - 1];
        if (mergeable) {
          shape[ndim - 1] *= s[d];
          continue;
        }
      }
      shape[ndim] = s[d];
      for (int t = 0; t < NT; ++t) strides[t][ndim] = st[t];
      ++ndim;
    }
    if (s.size() > 0 && numel_of(s) == 0) numel = 0;
    if (ndim == 0) {  // a scalar or all-ones shape: one element
      shape[0] = 1;
      ndim = 1;
    }
  }

  // inner(ptrs, inner_strides_in_bytes, n) over the linear range [begin, end) of the merged shape.
  template <class Inner>
  void run_range(int64_t begin, int64_t end, Inner& inner) const {
    int64_t idx[kMaxDims] = {};
    int64_t rest = begin;
    for (int d = 0; d < ndim; ++d) {
      idx[d] = rest % shape[d];
      rest /= shape[d];
    }
    char* ptr[NT];
    for (int t = 0; t < NT; ++t) {
      ptr[t] = base[t];
      for (int d = 0; d < ndim; ++d) ptr[t] += idx[d] * strides[t][d];
    }
    int64_t inner_strides[NT];
    for (int t = 0; t < NT; ++t) inner_strides[t] = strides[t][0];
    int64_t pos = begin;
    while (pos < end) {
      int64_t n = std::min(shape[0] - idx[0], end - pos);
      inner(ptr, inner_strides, n);
      pos += n;
      for (int t = 0; t < NT; ++t) ptr[t] += n * strides[t][0];
      idx[0] += n;
      // Carry into outer dims.
      for (int d = 0; d + 1 < ndim && idx[d] == shape[d]; ++d) {
        for (int t = 0; t < NT; ++t) ptr[t] += strides[t][d + 1] - shape[d] * strides[t][d];
        idx[d] = 0;
        ++idx[d + 1];
      }
    }
  }

  template <class Inner>
  void run(Inner&& inner, int64_t grain = kElementwiseGrain) const {
    if (numel == 0) return;
    if (numel <= grain) {
      run_range(0, numel, inner);
      return;
    }
    parallel_for(0, numel, grain, [&](int64_t b, int64_t e) { run_range(b, e, inner); });
  }
};

// out[i] = f(in0[i], in1[i], ...) with typed operands; contiguous inner loops get a plain indexed
// loop so the compiler can vectorise them.
// Call as map_elements<Out, In0, In1>(f, out, in0, in1).
template <class Out, class... In, class F, class... Ts>
void map_elements(F f, const Tensor& out, const Ts&... in) {
  static_assert(sizeof...(In) == sizeof...(Ts), "one element type per input tensor");
  constexpr int NT = 1 + sizeof...(In);
  // Fast path: every operand dense in the same order (no broadcast, no strides), one flat loop.
  if ((out.is_contiguous() && ... && in.is_contiguous())) {
    Out* o = static_cast<Out*>(out.raw_data());
    auto args = std::make_tuple(static_cast<const In*>(in.raw_data())...);
    auto flat = [&](int64_t b, int64_t e) {
      std::apply([&](const auto*... p) {
        for (int64_t i = b; i < e; ++i) o[i] = f(p[i]...);
      }, args);
    };
    const int64_t n = out.numel();
    if (n <= kElementwiseGrain) flat(0, n);
    else parallel_for(0, n, kElementwiseGrain, flat);
    return;
  }
  LoopPlan<NT> plan({&out, &in...});
  plan.run([&](char** p, const int64_t* s, int64_t n) {
    bool contiguous = s[0] == sizeof(Out);
    int k = 1;
    ((contiguous &= s[k++] == static_cast<int64_t>(sizeof(In))), ...);
    if (contiguous) {
      Out* o = reinterpret_cast<Out*>(p[0]);
      [&]<size_t... I>(std::index_sequence<I...>) {
        [[maybe_unused]] auto args = std::make_tuple(reinterpret_cast<const In*>(p[I + 1])...);
        for (int64_t i = 0; i < n; ++i) o[i] = f(std::get<I>(args)[i]...);
      }(std::index_sequence_for<In...>{});
    } else {
      [&]<size_t... I>(std::index_sequence<I...>) {
        for (int64_t i = 0; i < n; ++i)
          *reinterpret_cast<Out*>(p[0] + i * s[0]) =
              f(*reinterpret_cast<const In*>(p[I + 1] + i * s[I + 1])...);
      }(std::index_sequence_for<In...>{});
    }
  });
}

}  // namespace moelab::cpu
