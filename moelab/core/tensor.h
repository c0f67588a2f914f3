// Tensor: a cheap handle (one refcounted pointer) to a TensorImpl = storage + layout + dtype.
// Views (reshape when possible, permute, slice, expand, select, unsqueeze) share the storage.
// Methods that compute are declared here and defined by the ops layer (ops/tensor_methods.cpp),
// so that core stays free of op code while `x.sum(1, true)` reads as in PyTorch.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "moelab/core/dtype.h"
#include "moelab/core/object_pool.h"
#include "moelab/core/ref.h"
#include "moelab/core/scalar.h"
#include "moelab/core/shape.h"
#include "moelab/core/storage.h"

namespace moelab {

// Autograd state (requires_grad, grad, grad_fn, hooks) lives in autograd/; a tensor that never
// touches autograd carries only a null pointer.
struct AutogradMeta;
namespace autograd {
class Node;
}
struct AutogradMetaDeleter {
  void operator()(AutogradMeta* m) const;  // defined in autograd/
};
using AutogradMetaPtr = std::unique_ptr<AutogradMeta, AutogradMetaDeleter>;

class TensorImpl final : public RefCounted, public Pooled<TensorImpl> {
 public:
  TensorImpl(Storage storage, Shape shape, Strides strides, int64_t offset, DType dtype);
  const Storage& storage() const { return storage_; }
  const Shape& shape() const { return shape_; }
  const Strides& strides() const { return strides_; }
  int64_t offset() const { return offset_; }
  DType dtype() const { return dtype_; }
  int64_t numel() const { return numel_; }
  bool is_contiguous() const { return contiguous_; }
  // A Python-number-like 0-d tensor: it takes part in type promotion only by category.
  bool is_wrapped_number() const { return wrapped_number_; }
  void set_wrapped_number(bool w) { wrapped_number_ = w; }
  // True for tensors made by a view op (they share another tensor's storage).
  bool is_view() const { return is_view_; }
  void set_is_view(bool v) { is_view_ = v; }
  AutogradMeta* autograd_meta() const { return autograd_.get(); }
  void set_autograd_meta(AutogradMetaPtr m) { autograd_ = std::move(m); }

 private:
  Storage storage_;
  Shape shape_;
  Strides strides_;
  int64_t offset_;
  int64_t numel_;
  DType dtype_;
  bool contiguous_;
  bool wrapped_number_ = false;
  bool is_view_ = false;
  AutogradMetaPtr autograd_;
};

namespace indexing {
struct NoneT {};
struct EllipsisT {};
inline constexpr NoneT None{};
inline constexpr EllipsisT Ellipsis{};
// Python's start:stop:step. Missing bounds are std::nullopt (or None); negative bounds count from the end.
struct Slice {
  std::optional<int64_t> start, stop;
  int64_t step = 1;
  Slice() = default;
  Slice(std::optional<int64_t> start_, std::optional<int64_t> stop_, int64_t step_ = 1)
      : start(start_), stop(stop_), step(step_) {}
  Slice(NoneT, std::optional<int64_t> stop_, int64_t step_ = 1) : stop(stop_), step(step_) {}
  Slice(std::optional<int64_t> start_, NoneT, int64_t step_ = 1) : start(start_), step(step_) {}
  Slice(NoneT, NoneT, int64_t step_ = 1) : step(step_) {}
};
}  // namespace indexing

// One entry of x.index({...}): an integer (selects, drops the dim), a Slice, None (new axis of
// size 1) or Ellipsis (all remaining dims).
class TensorIndex {
 public:
  TensorIndex(int64_t i) : v_(i) {}  // NOLINT: implicit so that x.index({0, Slice()}) reads naturally
  TensorIndex(int i) : v_(static_cast<int64_t>(i)) {}  // NOLINT
  TensorIndex(indexing::Slice s) : v_(s) {}  // NOLINT
  TensorIndex(indexing::NoneT n) : v_(n) {}  // NOLINT
  TensorIndex(indexing::EllipsisT e) : v_(e) {}  // NOLINT
  const auto& value() const { return v_; }

 private:
  std::variant<int64_t, indexing::Slice, indexing::NoneT, indexing::EllipsisT> v_;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(Ref<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return static_cast<bool>(impl_); }
  TensorImpl* impl() const { return impl_.get(); }
  const Shape& shape() const { return impl_->shape(); }
  const Shape& sizes() const { return impl_->shape(); }
  int64_t size(int64_t dim) const;
  const Strides& strides() const { return impl_->strides(); }
  int64_t stride(int64_t dim) const;
  int64_t offset() const { return impl_->offset(); }
  int dim() const { return impl_->shape().size(); }
  int64_t numel() const { return impl_->numel(); }
  DType dtype() const { return impl_->dtype(); }
  Device device() const { return impl_->storage()->device(); }
  bool is_contiguous() const { return impl_->is_contiguous(); }
  size_t element_size() const { return moelab::element_size(dtype()); }
  const Storage& storage() const { return impl_->storage(); }
  bool is_wrapped_number() const { return impl_->is_wrapped_number(); }
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }
  // Address of element [0, 0, ...]; typed access checks the dtype.
  void* raw_data() const {
    return static_cast<char*>(storage()->data()) + offset() * static_cast<int64_t>(element_size());
  }
  template <class T>
  T* data_ptr() const {
    MOELAB_CHECK(dtype_v<T> == dtype(), "data_ptr: tensor has dtype ", dtype(), ", asked for ", dtype_v<T>);
    return static_cast<T*>(raw_data());
  }

  // ---- views: share storage (ops/view.cpp) ----
  Tensor as_strided(const Shape& shape, const Strides& strides, int64_t offset) const;
  Tensor view(const Shape& shape) const;      // must be expressible with the current strides
  Tensor reshape(const Shape& shape) const;   // a view when possible, else a copy
  Tensor permute(const Dims& dims) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const;                            // 0-d, 1-d, or 2-d transpose
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor slice(int64_t dim, std::optional<int64_t> start, std::optional<int64_t> stop, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor index(std::initializer_list<TensorIndex> idx) const;
  Tensor index(const std::vector<TensorIndex>& idx) const;
  Tensor expand(const Shape& shape) const;     // -1 keeps a size
  Tensor broadcast_to(const Shape& shape) const;
  Tensor expand_as(const Tensor& other) const;
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor unflatten(int64_t dim, const Shape& sizes) const;
  Tensor view_as(const Tensor& other) const;
  Tensor operator[](int64_t i) const { return select(0, i); }

  // ---- copies and conversion ----
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(DType dtype) const;        // returns *this when the dtype already matches
  Tensor to(Device device) const;
  template <class T> T item() const;   // one-element tensors
  template <class T> std::vector<T> to_vector() const;  // row-major values
  Tensor& copy_(const Tensor& src);    // broadcasting, casting copy into *this
  Tensor& fill_(Scalar value);
  Tensor& zero_();

  // ---- math, as methods (free functions in ops/ are the same ops) ----
  Tensor sum() const;
  Tensor sum(const Dims& dims, bool keepdim = false) const;
  Tensor sum(int64_t dim, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(const Dims& dims, bool keepdim = false) const;
  Tensor mean(int64_t dim, bool keepdim = false) const;
  Tensor max() const;
  Tensor min() const;
  Tensor argmax(std::optional<int64_t> dim = std::nullopt, bool keepdim = false) const;
  Tensor argmin(std::optional<int64_t> dim = std::nullopt, bool keepdim = false) const;
  Tensor abs() const;
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor neg() const;
  Tensor relu() const;
  Tensor sigmoid() const;
  Tensor tanh() const;
  Tensor square() const;
  Tensor pow(Scalar exponent) const;
  Tensor clamp(std::optional<Scalar> lo, std::optional<Scalar> hi) const;
  Tensor softmax(int64_t dim) const;
  Tensor log_softmax(int64_t dim) const;
  Tensor matmul(const Tensor& other) const;

  std::string to_string() const;

  // ---- autograd (defined in autograd/tensor_autograd.cpp) ----
  bool requires_grad() const;
  Tensor& requires_grad_(bool requires_grad = true);  // leaves only
  bool is_leaf() const;                  // no grad_fn: made by the user, not by a recorded op
  const Tensor& grad() const;            // the accumulated gradient of a leaf (undefined if none)
  Tensor& mutable_grad();                // to reset or replace it (optimizers, zero_grad)
  autograd::Node* grad_fn() const;         // the node that made this tensor, or nullptr
  Tensor detach() const;                 // same storage, no history
  void retain_grad();                    // keep .grad() on a non-leaf too
  bool retains_grad() const;
  // Reverse-mode gradient of this tensor (a scalar, unless `gradient` is given).
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false, bool create_graph = false) const;
  // hook(grad) runs when this tensor's gradient is computed; a defined return value replaces the
  // gradient. Returns a handle for remove_hook.
  int register_hook(std::function<Tensor(const Tensor&)> hook);
  void remove_hook(int handle);
  // Version of the storage, bumped by every in-place write (saved tensors compare it).
  uint32_t version() const { return storage()->version(); }

 private:
  Ref<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);  // PyTorch-style printing

// Makes a fresh contiguous tensor (uninitialised memory) on a device.
Tensor make_empty(const Shape& shape, DType dtype, Device device = kCPU);

}  // namespace moelab
