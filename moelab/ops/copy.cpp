// Copies, conversions and element access.
#include "moelab/autograd/function.h"
#include "moelab/backends/elementwise_kernels.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/op_helpers.h"
#include "moelab/ops/reduce.h"

namespace moelab {
using detail::backend_of;

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

namespace {
// Records out = copy of `in` (any dtype or device change): the gradient is converted back.
Tensor record_copy(const Tensor& in, Tensor out, const char* name) {
  if (autograd::needs_grad({&in}) && is_floating(out.dtype())) {
    DType dt = in.dtype();
    Device dev = in.device();
    autograd::record_op(name, {&in}, {&out}, {},
                        [dt, dev](autograd::FunctionNode::Context&, const std::vector<Tensor>& g) {
                          return std::vector<Tensor>{g[0].to(dt).to(dev)};
                        });
  }
  return out;
}
}  // namespace

Tensor Tensor::clone() const {
  Tensor out = make_empty(shape(), dtype(), device());
  backend_of(*this).elementwise().copy(out, *this);
  return record_copy(*this, out, "clone");
}

Tensor Tensor::to(DType t) const {
  if (t == dtype()) return *this;
  Tensor out = make_empty(shape(), t, device());
  backend_of(*this).elementwise().copy(out, *this);
  return record_copy(*this, out, "to");
}

Tensor Tensor::to(Device d) const {
  if (d == device()) return *this;
  Tensor out = make_empty(shape(), dtype(), d);
  {
    // A copy between devices is done by the non-CPU side's backend.
    autograd::NoGradGuard no_grad;
    backend_for(d.is_cpu() ? device() : d).elementwise().copy(out, contiguous());
  }
  return record_copy(*this, out, "to");
}

Tensor& Tensor::copy_(const Tensor& src) {
  detail::check_defined(*this, "copy_", "destination");
  detail::check_defined(src, "copy_", "source");
  bool recording = autograd::needs_grad({&src, this});
  autograd::check_inplace(*this, "copy_", recording);
  {
    autograd::NoGradGuard no_grad;
    Tensor s = src.expand(shape());
    if (s.device() != device()) s = s.contiguous().to(device());
    backend_of(*this).elementwise().copy(*this, s);
  }
  storage()->bump_version();
  if (recording) {
    // The old value is overwritten (no gradient); the source gets the gradient, summed over the
    // dims it was broadcast along and converted back to its dtype.
    Shape ss = src.shape();
    DType sd = src.dtype();
    autograd::record_op("copy_", {&src}, {this}, {},
                        [ss, sd](autograd::FunctionNode::Context&, const std::vector<Tensor>& g) {
                          return std::vector<Tensor>{sum_to(g[0], ss).to(sd)};
                        });
  }
  return *this;
}

Tensor& Tensor::fill_(Scalar value) {
  detail::check_defined(*this, "fill_");
  bool recording = autograd::needs_grad({this});
  autograd::check_inplace(*this, "fill_", recording);
  backend_of(*this).elementwise().fill(*this, value);
  storage()->bump_version();
  // The history ends here: a constant has no gradient.
  if (recording) autograd::record_op("fill_", {}, {this}, {}, [](auto&, const auto&) { return std::vector<Tensor>{}; });
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
