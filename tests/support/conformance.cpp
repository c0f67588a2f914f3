#include "support/conformance.h"

#include <moelab/backends/backend.h>

namespace moelab::testing {

std::vector<ConformanceCase>& conformance_cases() {
  static std::vector<ConformanceCase> cases;
  return cases;
}

bool register_conformance_case(ConformanceCase c) {
  conformance_cases().push_back(std::move(c));
  return true;
}

std::vector<Device> available_devices() {
  std::vector<Device> devices{kCPU};
  try {
    backend_for(Device::cuda(0));
    devices.push_back(Device::cuda(0));
  } catch (const Error&) {
    // Built without CUDA: the CPU alone is checked.
  }
  return devices;
}

Tensor non_contiguous_copy(const Tensor& t) {
  if (t.dim() == 0 || t.numel() <= 1) return t;
  if (t.dim() == 1) {
    // Every other element of a buffer twice as long.
    Tensor big = zeros({t.size(0) * 2}, {t.dtype(), t.device()});
    Tensor v = big.slice(0, 0, std::nullopt, 2);
    v.copy_(t);
    return v;
  }
  Tensor v = t.transpose(-1, -2).contiguous().transpose(-1, -2);
  if (!v.is_contiguous()) return v;
  // Transposing did not change the layout (a size-1 dim): pad the last dim instead.
  Shape s = t.shape();
  s[s.size() - 1] *= 2;
  Tensor big = zeros(s, {t.dtype(), t.device()});
  Tensor w = big.slice(-1, 0, std::nullopt, 2);
  w.copy_(t);
  return w;
}

}  // namespace moelab::testing
