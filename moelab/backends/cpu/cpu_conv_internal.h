// Internal to the CPU conv family: the oneDNN path (f32), the GEMM fallback (f64, oneDNN has no f64
// convolution) and the pooling loops. CpuConvKernels (cpu_conv.cpp) dispatches between them.
#pragma once
#include "moelab/backends/conv_kernels.h"

namespace moelab::cpu_conv {

// oneDNN, f32 only. Primitives are cached by geometry (cpu_conv_dnnl.cpp).
void dnnl_conv2d(const Tensor& out, const Tensor& input, const Tensor& weight, const Tensor& bias,
                 const Conv2dParams& p);
void dnnl_conv2d_backward_input(const Tensor& grad_input, const Tensor& grad_out, const Tensor& weight,
                                const Conv2dParams& p);
void dnnl_conv2d_backward_weight(const Tensor& grad_weight, const Tensor& grad_bias, const Tensor& grad_out,
                                 const Tensor& input, const Conv2dParams& p);
ConvCacheStats dnnl_cache_stats();
void dnnl_clear_cache();

// im2col + cblas_?gemm, any float dtype (cpu_conv_gemm.cpp).
void gemm_conv2d(const Tensor& out, const Tensor& input, const Tensor& weight, const Tensor& bias,
                 const Conv2dParams& p);
void gemm_conv2d_backward_input(const Tensor& grad_input, const Tensor& grad_out, const Tensor& weight,
                                const Conv2dParams& p);
void gemm_conv2d_backward_weight(const Tensor& grad_weight, const Tensor& grad_bias, const Tensor& grad_out,
                                 const Tensor& input, const Conv2dParams& p);

// Pooling loops, f32 and f64 (cpu_pool.cpp).
void max_pool2d(const Tensor& values, const Tensor& indices, const Tensor& input, const Pool2dParams& p);
void max_pool2d_backward(const Tensor& grad_input, const Tensor& grad_out, const Tensor& indices);
void avg_pool2d(const Tensor& out, const Tensor& input, const Pool2dParams& p);
void avg_pool2d_backward(const Tensor& grad_input, const Tensor& grad_out, const Pool2dParams& p);
void adaptive_avg_pool2d(const Tensor& out, const Tensor& input);
void adaptive_avg_pool2d_backward(const Tensor& grad_input, const Tensor& grad_out);

}  // namespace moelab::cpu_conv
