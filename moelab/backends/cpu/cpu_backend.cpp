#include "moelab/backends/cpu/cpu_backend.h"

#include <cblas.h>

#include "moelab/core/allocator.h"
#include "moelab/core/parallel.h"

namespace moelab {
namespace {

class CpuBackend final : public Backend {
 public:
  DeviceType device_type() const override { return DeviceType::CPU; }
  Allocator& allocator() override { return cpu_allocator(); }
  ElementwiseKernels& elementwise() override { return cpu_elementwise_kernels(); }
  ReduceKernels& reduce() override { return cpu_reduce_kernels(); }
  LinalgKernels& linalg() override { return cpu_linalg_kernels(); }
  IndexKernels& index() override { return cpu_index_kernels(); }
  SortScanKernels& sort_scan() override { return cpu_sort_scan_kernels(); }
  ConvKernels& conv() override { return cpu_conv_kernels(); }
  RandomKernels& random() override { return cpu_random_kernels(); }
};

}  // namespace

Backend& cpu_backend() {
  static CpuBackend backend = [] {
    // OpenBLAS runs with moelab's thread count (oneDNN's OpenMP count is set per call in cpu_conv).
    add_num_threads_listener([](int n) { openblas_set_num_threads(n); });
    return CpuBackend();
  }();
  return backend;
}

}  // namespace moelab
