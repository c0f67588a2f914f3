#include "moelab/backends/backend.h"

#include "moelab/backends/cpu/cpu_backend.h"

namespace moelab {
namespace {
Backend* g_backends[kNumDeviceTypes] = {};
}

void register_backend(DeviceType type, Backend* backend) { g_backends[static_cast<int>(type)] = backend; }

Backend& backend_for(Device device) {
  if (device.is_cpu()) [[likely]]
    return cpu_backend();
  Backend* b = g_backends[static_cast<int>(device.type)];
  MOELAB_CHECK(b != nullptr, "device ", device, " is not available: moelab was built without its backend");
  return *b;
}

}  // namespace moelab
