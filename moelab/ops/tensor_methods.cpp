// Tensor's math methods: thin forwards to the free functions, so x.sum(1) == moelab::sum(x, {1}).
#include "moelab/ops/elementwise.h"
#include "moelab/ops/linalg.h"
#include "moelab/ops/reduce.h"
#include "moelab/ops/softmax.h"

namespace moelab {

Tensor Tensor::sum() const { return moelab::sum(*this); }
Tensor Tensor::sum(const Dims& dims, bool keepdim) const { return moelab::sum(*this, dims, keepdim); }
Tensor Tensor::sum(int64_t dim, bool keepdim) const { return moelab::sum(*this, {dim}, keepdim); }
Tensor Tensor::mean() const { return moelab::mean(*this); }
Tensor Tensor::mean(const Dims& dims, bool keepdim) const { return moelab::mean(*this, dims, keepdim); }
Tensor Tensor::mean(int64_t dim, bool keepdim) const { return moelab::mean(*this, {dim}, keepdim); }
Tensor Tensor::max() const { return moelab::max(*this); }
Tensor Tensor::min() const { return moelab::min(*this); }
Tensor Tensor::argmax(std::optional<int64_t> dim, bool keepdim) const { return moelab::argmax(*this, dim, keepdim); }
Tensor Tensor::argmin(std::optional<int64_t> dim, bool keepdim) const { return moelab::argmin(*this, dim, keepdim); }
Tensor Tensor::abs() const { return moelab::abs(*this); }
Tensor Tensor::exp() const { return moelab::exp(*this); }
Tensor Tensor::log() const { return moelab::log(*this); }
Tensor Tensor::sqrt() const { return moelab::sqrt(*this); }
Tensor Tensor::neg() const { return moelab::neg(*this); }
Tensor Tensor::relu() const { return moelab::relu(*this); }
Tensor Tensor::sigmoid() const { return moelab::sigmoid(*this); }
Tensor Tensor::tanh() const { return moelab::tanh(*this); }
Tensor Tensor::square() const { return moelab::square(*this); }
Tensor Tensor::pow(Scalar e) const { return moelab::pow(*this, e); }
Tensor Tensor::clamp(std::optional<Scalar> lo, std::optional<Scalar> hi) const { return moelab::clamp(*this, lo, hi); }
Tensor Tensor::softmax(int64_t dim) const { return moelab::softmax(*this, dim); }
Tensor Tensor::log_softmax(int64_t dim) const { return moelab::log_softmax(*this, dim); }
Tensor Tensor::matmul(const Tensor& other) const { return moelab::matmul(*this, other); }

}  // namespace moelab
