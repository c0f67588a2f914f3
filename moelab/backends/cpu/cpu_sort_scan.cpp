#include "moelab/backends/sort_scan_kernels.h"
#include "moelab/backends/cpu/cpu_backend.h"

namespace moelab {
namespace {
class CpuSortScanKernels final : public SortScanKernels {};
}  // namespace

SortScanKernels& cpu_sort_scan_kernels() {
  static CpuSortScanKernels k;
  return k;
}

}  // namespace moelab
