// Linear algebra: matmul with batch broadcasting, bmm, outer, einsum (OpenBLAS), and LAPACK
// decompositions.
#pragma once
#include "moelab/core/tensor.h"

namespace moelab {

Tensor matmul(const Tensor& a, const Tensor& b);

}  // namespace moelab
