// Tensor factories, mirroring PyTorch's: zeros({2, 3}), full({2}, 1.5, kF64), arange(0, 10, 2), ...
// Random factories (rand, randn, ...) are in random.h.
#pragma once
#include <initializer_list>
#include <vector>

#include "moelab/core/tensor.h"

namespace moelab {

// dtype and device for a new tensor; converts implicitly from either, so zeros({2}, kF64) works.
struct TensorOptions {
  DType dtype = kF32;
  Device device = kCPU;
  TensorOptions() = default;
  TensorOptions(DType d) : dtype(d) {}                // NOLINT: implicit on purpose
  TensorOptions(Device d) : device(d) {}              // NOLINT
  TensorOptions(DType t, Device d) : dtype(t), device(d) {}
};

Tensor empty(const Shape& shape, TensorOptions opts = {});
Tensor zeros(const Shape& shape, TensorOptions opts = {});
Tensor ones(const Shape& shape, TensorOptions opts = {});
Tensor full(const Shape& shape, Scalar value, TensorOptions opts = {});
Tensor empty_like(const Tensor& t);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, Scalar value);
Tensor empty_like(const Tensor& t, TensorOptions opts);
Tensor zeros_like(const Tensor& t, TensorOptions opts);
Tensor ones_like(const Tensor& t, TensorOptions opts);
Tensor full_like(const Tensor& t, Scalar value, TensorOptions opts);

// [start, end) in steps; the dtype is i64 when all three are integers, else f32 (unless given).
Tensor arange(Scalar end);
Tensor arange(Scalar start, Scalar end, Scalar step = 1);
Tensor arange(Scalar start, Scalar end, Scalar step, TensorOptions opts);
Tensor linspace(double start, double end, int64_t steps, TensorOptions opts = {});
Tensor eye(int64_t n, TensorOptions opts = {});
Tensor eye(int64_t n, int64_t m, TensorOptions opts = {});

// From C++ values; the dtype follows T as in libtorch: float f32, double f64, int i32, int64_t i64,
// bool bool (so tensor({1, 2}) is i32 and tensor({1.f, 2.f}) is f32).
template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape);
template <class T>
Tensor from_vector(const std::vector<T>& values) {
  return from_vector(values, Shape{static_cast<int64_t>(values.size())});
}
template <class T>
Tensor tensor(std::initializer_list<T> values) {
  return from_vector(std::vector<T>(values));
}
template <class T>
Tensor tensor(std::initializer_list<std::initializer_list<T>> rows);
// A 0-d tensor.
template <class T>
Tensor scalar(T value) {
  return from_vector(std::vector<T>{value}, Shape{});
}

}  // namespace moelab
