// The CPU backend's fused SwiGLU kernels (cpu_swiglu.cpp), behind ElementwiseKernels::swiglu and
// swiglu_backward (see elementwise_kernels.h for the contract).
#pragma once
#include "moelab/core/tensor.h"

namespace moelab::cpu {

void swiglu_kernel(const Tensor& out, const Tensor& a, const Tensor& b);
void swiglu_backward_kernel(const Tensor& ga, const Tensor& gb, const Tensor& g, const Tensor& a, const Tensor& b);

}  // namespace moelab::cpu
