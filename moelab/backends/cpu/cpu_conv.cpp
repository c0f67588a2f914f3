// The CPU conv family: convolution through oneDNN for f32 (primitives cached, cpu_conv_dnnl.cpp),
// im2col + OpenBLAS GEMM for f64 (oneDNN has no f64 convolution; cpu_conv_gemm.cpp), pooling as
// loops (cpu_pool.cpp).
#include "moelab/backends/cpu/cpu_backend.h"
#include "moelab/backends/cpu/cpu_conv_internal.h"

namespace moelab {
namespace {

class CpuConvKernels final : public ConvKernels {
 public:
  void conv2d(const Tensor& out, const Tensor& input, const Tensor& weight, const Tensor& bias,
              const Conv2dParams& p) override {
    if (input.dtype() == kF32)
      cpu_conv::dnnl_conv2d(out, input, weight, bias, p);
    else
      cpu_conv::gemm_conv2d(out, input, weight, bias, p);
  }
  void conv2d_backward_input(const Tensor& grad_input, const Tensor& grad_out, const Tensor& weight,
                             const Conv2dParams& p) override {
    if (grad_out.dtype() == kF32)
      cpu_conv::dnnl_conv2d_backward_input(grad_input, grad_out, weight, p);
    else
      cpu_conv::gemm_conv2d_backward_input(grad_input, grad_out, weight, p);
  }
  void conv2d_backward_weight(const Tensor& grad_weight, const Tensor& grad_bias, const Tensor& grad_out,
                              const Tensor& input, const Conv2dParams& p) override {
    if (grad_out.dtype() == kF32)
      cpu_conv::dnnl_conv2d_backward_weight(grad_weight, grad_bias, grad_out, input, p);
    else
      cpu_conv::gemm_conv2d_backward_weight(grad_weight, grad_bias, grad_out, input, p);
  }

  void max_pool2d(const Tensor& values, const Tensor& indices, const Tensor& input, const Pool2dParams& p) override {
    cpu_conv::max_pool2d(values, indices, input, p);
  }
  void max_pool2d_backward(const Tensor& grad_input, const Tensor& grad_out, const Tensor& indices) override {
    cpu_conv::max_pool2d_backward(grad_input, grad_out, indices);
  }
  void avg_pool2d(const Tensor& out, const Tensor& input, const Pool2dParams& p) override {
    cpu_conv::avg_pool2d(out, input, p);
  }
  void avg_pool2d_backward(const Tensor& grad_input, const Tensor& grad_out, const Pool2dParams& p) override {
    cpu_conv::avg_pool2d_backward(grad_input, grad_out, p);
  }
  void adaptive_avg_pool2d(const Tensor& out, const Tensor& input) override {
    cpu_conv::adaptive_avg_pool2d(out, input);
  }
  void adaptive_avg_pool2d_backward(const Tensor& grad_input, const Tensor& grad_out) override {
    cpu_conv::adaptive_avg_pool2d_backward(grad_input, grad_out);
  }

  ConvCacheStats cache_stats() const override { return cpu_conv::dnnl_cache_stats(); }
  void clear_cache() override { cpu_conv::dnnl_clear_cache(); }
};

}  // namespace

ConvKernels& cpu_conv_kernels() {
  static CpuConvKernels k;
  return k;
}

}  // namespace moelab
