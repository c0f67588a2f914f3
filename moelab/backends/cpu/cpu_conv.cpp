#include "moelab/backends/conv_kernels.h"
#include "moelab/backends/cpu/cpu_backend.h"

namespace moelab {
namespace {
class CpuConvKernels final : public ConvKernels {};
}  // namespace

ConvKernels& cpu_conv_kernels() {
  static CpuConvKernels k;
  return k;
}

}  // namespace moelab
