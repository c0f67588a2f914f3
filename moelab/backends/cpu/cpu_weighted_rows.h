// The CPU backend's MoE combine kernels (cpu_weighted_rows.cpp), behind
// IndexKernels::weighted_row_sum and weighted_row_sum_backward (see index_kernels.h).
#pragma once
#include "moelab/core/tensor.h"

namespace moelab::cpu {

void weighted_row_sum_kernel(const Tensor& out, const Tensor& y, const Tensor& w, const Tensor& rows);
void weighted_row_sum_backward_kernel(const Tensor& gy, const Tensor& gw, const Tensor& g, const Tensor& y,
                                      const Tensor& w, const Tensor& rows, const Tensor& slots);

}  // namespace moelab::cpu
