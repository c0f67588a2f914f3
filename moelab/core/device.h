// Where a tensor's memory lives. Every Tensor carries one; ops check that their inputs agree.
#pragma once
#include <cstdint>
#include <iosfwd>

namespace moelab {

enum class DeviceType : uint8_t { CPU, CUDA };
inline constexpr int kNumDeviceTypes = 2;

struct Device {
  DeviceType type = DeviceType::CPU;
  int16_t index = 0;

  static constexpr Device cpu() { return {DeviceType::CPU, 0}; }
  static constexpr Device cuda(int i = 0) { return {DeviceType::CUDA, static_cast<int16_t>(i)}; }
  constexpr bool is_cpu() const { return type == DeviceType::CPU; }
  constexpr bool is_cuda() const { return type == DeviceType::CUDA; }
  friend constexpr bool operator==(Device, Device) = default;
};

inline constexpr Device kCPU = Device::cpu();
std::ostream& operator<<(std::ostream& os, Device d);

}  // namespace moelab
