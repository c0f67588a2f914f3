#include "moelab/core/tensor.h"

#include "moelab/core/allocator.h"

namespace moelab {

namespace {
bool compute_contiguous(const Shape& shape, const Strides& strides) {
  int64_t expected = 1;
  for (int i = shape.size() - 1; i >= 0; --i) {
    if (shape[i] == 1) continue;
    if (shape[i] == 0) return true;
    if (strides[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}
}  // namespace

TensorImpl::TensorImpl(Storage storage, Shape shape, Strides strides, int64_t offset, DType dtype)
    : storage_(std::move(storage)),
      shape_(shape),
      strides_(strides),
      offset_(offset),
      numel_(numel_of(shape)),
      dtype_(dtype),
      contiguous_(compute_contiguous(shape, strides)) {}

int64_t Tensor::size(int64_t dim) const { return shape()[wrap_dim(dim, this->dim(), "size")]; }
int64_t Tensor::stride(int64_t dim) const { return strides()[wrap_dim(dim, this->dim(), "stride")]; }

Tensor make_empty(const Shape& shape, DType dtype, Device device) {
  int64_t n = 1;
  for (int64_t s : shape) {
    MOELAB_CHECK(s >= 0, "empty: negative size in shape ", shape);
    n *= s;
  }
  auto storage = make_ref<StorageImpl>(static_cast<size_t>(n) * element_size(dtype), device,
                                       allocator_for(device));
  return Tensor(make_ref<TensorImpl>(std::move(storage), shape, contiguous_strides(shape), 0, dtype));
}

}  // namespace moelab
