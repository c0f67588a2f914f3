// Shape and strides: a small inline vector of int64 (no heap allocation), at most kMaxDims dims.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <span>
#include <vector>

#include "moelab/core/error.h"

namespace moelab {

inline constexpr int kMaxDims = 8;

class Dims {
 public:
  Dims() = default;
  Dims(std::initializer_list<int64_t> v) { assign(v.begin(), v.size()); }
  Dims(std::span<const int64_t> v) { assign(v.data(), v.size()); }  // NOLINT: implicit on purpose
  Dims(const std::vector<int64_t>& v) { assign(v.data(), v.size()); }  // NOLINT
  static Dims filled(int n, int64_t value) {
    Dims d;
    d.resize(n, value);
    return d;
  }

  int size() const { return n_; }
  bool empty() const { return n_ == 0; }
  int64_t& operator[](int i) { return v_[static_cast<size_t>(i)]; }
  int64_t operator[](int i) const { return v_[static_cast<size_t>(i)]; }
  int64_t* begin() { return v_.data(); }
  int64_t* end() { return v_.data() + n_; }
  const int64_t* begin() const { return v_.data(); }
  const int64_t* end() const { return v_.data() + n_; }
  const int64_t* data() const { return v_.data(); }
  int64_t back() const { return v_[static_cast<size_t>(n_ - 1)]; }

  void push_back(int64_t x) {
    MOELAB_CHECK(n_ < kMaxDims, "tensors have at most ", kMaxDims, " dimensions");
    v_[static_cast<size_t>(n_++)] = x;
  }
  void insert(int pos, int64_t x) {
    push_back(0);
    for (int i = n_ - 1; i > pos; --i) v_[static_cast<size_t>(i)] = v_[static_cast<size_t>(i - 1)];
    v_[static_cast<size_t>(pos)] = x;
  }
  void erase(int pos) {
    for (int i = pos; i + 1 < n_; ++i) v_[static_cast<size_t>(i)] = v_[static_cast<size_t>(i + 1)];
    --n_;
  }
  void resize(int n, int64_t value = 0) {
    MOELAB_CHECK(n >= 0 && n <= kMaxDims, "tensors have at most ", kMaxDims, " dimensions, got ", n);
    for (int i = n_; i < n; ++i) v_[static_cast<size_t>(i)] = value;
    n_ = static_cast<int8_t>(n);
  }
  std::vector<int64_t> vec() const { return {begin(), end()}; }
  std::span<const int64_t> span() const { return {v_.data(), static_cast<size_t>(n_)}; }

  friend bool operator==(const Dims& a, const Dims& b) {
    return a.n_ == b.n_ && std::equal(a.begin(), a.end(), b.begin());
  }

 private:
  void assign(const int64_t* p, size_t n) {
    MOELAB_CHECK(n <= static_cast<size_t>(kMaxDims), "tensors have at most ", kMaxDims, " dimensions, got ", n);
    std::copy(p, p + n, v_.begin());
    n_ = static_cast<int8_t>(n);
  }
  std::array<int64_t, kMaxDims> v_{};
  int8_t n_ = 0;
};

using Shape = Dims;
using Strides = Dims;

std::ostream& operator<<(std::ostream& os, const Dims& d);  // prints [2, 3]

int64_t numel_of(const Shape& s);
Strides contiguous_strides(const Shape& s);
// Wraps a possibly negative dim into [0, ndim); throws naming the op when out of range.
int wrap_dim(int64_t dim, int ndim, const char* op);
// The broadcast of two shapes (numpy rules); throws naming the op when they do not broadcast.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace moelab
