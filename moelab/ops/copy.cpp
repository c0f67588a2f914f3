// Copies, conversions and element access.
#include "moelab/backends/elementwise_kernels.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/op_helpers.h"

namespace moelab {
using detail::backend_of;

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::clone() const {
  Tensor out = make_empty(shape(), dtype(), device());
  backend_of(*this).elementwise().copy(out, *this);
  return out;
}

Tensor Tensor::to(DType t) const {
  if (t == dtype()) return *this;
  Tensor out = make_empty(shape(), t, device());
  backend_of(*this).elementwise().copy(out, *this);
  return out;
}

Tensor Tensor::to(Device d) const {
  if (d == device()) return *this;
  Tensor out = make_empty(shape(), dtype(), d);
  // A copy between devices is done by the non-CPU side's backend.
  backend_for(d.is_cpu() ? device() : d).elementwise().copy(out, contiguous());
  return out;
}

Tensor& Tensor::copy_(const Tensor& src) {
  detail::check_defined(*this, "copy_", "destination");
  detail::check_defined(src, "copy_", "source");
  Tensor s = src.expand(shape());
  if (s.device() != device()) s = s.contiguous().to(device());
  backend_of(*this).elementwise().copy(*this, s);
  storage()->bump_version();
  return *this;
}

Tensor& Tensor::fill_(Scalar value) {
  detail::check_defined(*this, "fill_");
  backend_of(*this).elementwise().fill(*this, value);
  storage()->bump_version();
  return *this;
}

Tensor& Tensor::zero_() { return fill_(0); }

template <class T>
T Tensor::item() const {
  detail::check_defined(*this, "item");
  MOELAB_CHECK(numel() == 1, "item: the tensor has ", numel(), " elements (shape ", shape(), "), expected 1");
  return to_vector<T>()[0];
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  detail::check_defined(*this, "to_vector");
  Tensor host = to(kCPU).to(dtype_v<T>).contiguous();
  const T* p = host.data_ptr<T>();
  return std::vector<T>(p, p + host.numel());
}

#define MOELAB_INSTANTIATE(T)                           \
  template T Tensor::item<T>() const;                   \
  template std::vector<T> Tensor::to_vector<T>() const;
MOELAB_INSTANTIATE(float)
MOELAB_INSTANTIATE(double)
MOELAB_INSTANTIATE(int32_t)
MOELAB_INSTANTIATE(int64_t)
MOELAB_INSTANTIATE(bool)
MOELAB_INSTANTIATE(BFloat16)
MOELAB_INSTANTIATE(Half)
#undef MOELAB_INSTANTIATE

}  // namespace moelab
