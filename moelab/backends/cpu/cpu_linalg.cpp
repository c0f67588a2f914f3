#include "moelab/backends/linalg_kernels.h"
#include "moelab/backends/cpu/cpu_backend.h"

namespace moelab {
namespace {
class CpuLinalgKernels final : public LinalgKernels {};
}  // namespace

LinalgKernels& cpu_linalg_kernels() {
  static CpuLinalgKernels k;
  return k;
}

}  // namespace moelab
