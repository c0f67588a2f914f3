#include "moelab/backends/random_kernels.h"
#include "moelab/backends/cpu/cpu_backend.h"

namespace moelab {
namespace {
class CpuRandomKernels final : public RandomKernels {};
}  // namespace

RandomKernels& cpu_random_kernels() {
  static CpuRandomKernels k;
  return k;
}

}  // namespace moelab
