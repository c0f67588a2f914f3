// The CPU backend: OpenBLAS for GEMM and LAPACK, oneDNN for convolution and pooling, the intra-op
// thread pool for everything else. Each kernel family lives in its own file.
#pragma once
#include "moelab/backends/backend.h"

namespace moelab {

Backend& cpu_backend();

// One instance per family, each defined in its family's file.
ElementwiseKernels& cpu_elementwise_kernels();
ReduceKernels& cpu_reduce_kernels();
LinalgKernels& cpu_linalg_kernels();
IndexKernels& cpu_index_kernels();
SortScanKernels& cpu_sort_scan_kernels();
ConvKernels& cpu_conv_kernels();
RandomKernels& cpu_random_kernels();

}  // namespace moelab
