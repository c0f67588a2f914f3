#include "moelab/backends/index_kernels.h"
#include "moelab/backends/cpu/cpu_backend.h"

namespace moelab {
namespace {
class CpuIndexKernels final : public IndexKernels {};
}  // namespace

IndexKernels& cpu_index_kernels() {
  static CpuIndexKernels k;
  return k;
}

}  // namespace moelab
