#include "moelab/ops/factory.h"

#include <cmath>
#include <cstring>

#include "moelab/backends/elementwise_kernels.h"
#include "moelab/ops/op_helpers.h"

namespace moelab {

Tensor empty(const Shape& shape, TensorOptions opts) { return make_empty(shape, opts.dtype, opts.device); }

Tensor full(const Shape& shape, Scalar value, TensorOptions opts) {
  Tensor t = empty(shape, opts);
  backend_for(opts.device).elementwise().fill(t, value);
  return t;
}
Tensor zeros(const Shape& shape, TensorOptions opts) { return full(shape, 0, opts); }
Tensor ones(const Shape& shape, TensorOptions opts) { return full(shape, 1, opts); }

Tensor empty_like(const Tensor& t) { return empty_like(t, {t.dtype(), t.device()}); }
Tensor zeros_like(const Tensor& t) { return zeros_like(t, {t.dtype(), t.device()}); }
Tensor ones_like(const Tensor& t) { return ones_like(t, {t.dtype(), t.device()}); }
Tensor full_like(const Tensor& t, Scalar v) { return full_like(t, v, {t.dtype(), t.device()}); }
Tensor empty_like(const Tensor& t, TensorOptions o) { return empty(t.shape(), o); }
Tensor zeros_like(const Tensor& t, TensorOptions o) { return zeros(t.shape(), o); }
Tensor ones_like(const Tensor& t, TensorOptions o) { return ones(t.shape(), o); }
Tensor full_like(const Tensor& t, Scalar v, TensorOptions o) { return full(t.shape(), v, o); }

Tensor arange(Scalar end) { return arange(0, end, 1); }

Tensor arange(Scalar start, Scalar end, Scalar step) {
  bool all_int = !start.is_floating() && !end.is_floating() && !step.is_floating();
  return arange(start, end, step, TensorOptions(all_int ? kI64 : kF32));
}

Tensor arange(Scalar start, Scalar end, Scalar step, TensorOptions opts) {
  double s = start.to_double(), e = end.to_double(), st = step.to_double();
  MOELAB_CHECK(st != 0, "arange: step must be non-zero");
  MOELAB_CHECK(std::isfinite(s) && std::isfinite(e), "arange: bounds must be finite, got ", s, " and ", e);
  MOELAB_CHECK((st > 0 && e >= s) || (st < 0 && e <= s), "arange: step ", st,
               " does not go from ", s, " towards ", e);
  auto n = static_cast<int64_t>(std::ceil((e - s) / st));
  Tensor cpu_t = empty({n}, opts.dtype);
  visit_dtype<DTypes::Numeric>(opts.dtype, "arange", [&]<class T>() {
    T* p = cpu_t.data_ptr<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(s + static_cast<double>(i) * st);
  });
  return cpu_t.to(opts.device);
}

Tensor linspace(double start, double end, int64_t steps, TensorOptions opts) {
  MOELAB_CHECK(steps >= 0, "linspace: steps must be non-negative, got ", steps);
  Tensor cpu_t = empty({steps}, opts.dtype);
  double step = steps > 1 ? (end - start) / static_cast<double>(steps - 1) : 0.0;
  visit_dtype<DTypes::Numeric>(opts.dtype, "linspace", [&]<class T>() {
    T* p = cpu_t.data_ptr<T>();
    // Fill symmetric halves from both ends, as PyTorch does, so that the end point is exact.
    int64_t half = steps / 2;
    for (int64_t i = 0; i < steps; ++i)
      p[i] = static_cast<T>(i < half ? start + step * static_cast<double>(i)
                                     : end - step * static_cast<double>(steps - 1 - i));
  });
  return cpu_t.to(opts.device);
}

Tensor eye(int64_t n, TensorOptions opts) { return eye(n, n, opts); }

Tensor eye(int64_t n, int64_t m, TensorOptions opts) {
  MOELAB_CHECK(n >= 0 && m >= 0, "eye: sizes must be non-negative, got ", n, " and ", m);
  Tensor t = zeros({n, m}, opts);
  int64_t k = std::min(n, m);
  // The diagonal is a strided view with stride m + 1.
  if (k > 0) t.as_strided({k}, {m + 1}, 0).fill_(1);
  return t;
}

template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape) {
  using Elem = T;
  MOELAB_CHECK(numel_of(shape) == static_cast<int64_t>(values.size()), "from_vector: ", values.size(),
               " values do not fill shape ", shape);
  Tensor t = empty(shape, dtype_v<Elem>);
  Elem* p = t.data_ptr<Elem>();
  for (size_t i = 0; i < values.size(); ++i) p[i] = static_cast<Elem>(values[i]);
  return t;
}

template <class T>
Tensor tensor(std::initializer_list<std::initializer_list<T>> rows) {
  std::vector<T> flat;
  size_t cols = rows.size() ? rows.begin()->size() : 0;
  for (const auto& r : rows) {
    MOELAB_CHECK(r.size() == cols, "tensor: ragged rows (", cols, " and ", r.size(), " values)");
    flat.insert(flat.end(), r.begin(), r.end());
  }
  return from_vector(flat, {static_cast<int64_t>(rows.size()), static_cast<int64_t>(cols)});
}

#define MOELAB_INSTANTIATE(T)                                                  \
  template Tensor from_vector<T>(const std::vector<T>&, const Shape&);         \
  template Tensor tensor<T>(std::initializer_list<std::initializer_list<T>>);
MOELAB_INSTANTIATE(float)
MOELAB_INSTANTIATE(double)
MOELAB_INSTANTIATE(int32_t)
MOELAB_INSTANTIATE(int64_t)
MOELAB_INSTANTIATE(bool)
MOELAB_INSTANTIATE(BFloat16)
MOELAB_INSTANTIATE(Half)
#undef MOELAB_INSTANTIATE

}  // namespace moelab
