// The Backend interface: primitive kernels for one device type, grouped by family. Composite ops
// live in ops/ and are written from these primitives; a fused kernel joins only when a benchmark
// shows it pays. A registry maps a device type to its backend.
//
// Contract for every kernel: inputs are already checked by ops/ (shapes, dtypes, devices, index
// ranges), outputs are allocated by the caller, and kernels honour arbitrary strides.
#pragma once
#include "moelab/core/device.h"
#include "moelab/core/tensor.h"

namespace moelab {

class ElementwiseKernels;
class ReduceKernels;
class LinalgKernels;
class IndexKernels;
class SortScanKernels;
class ConvKernels;
class RandomKernels;

class Backend {
 public:
  virtual ~Backend() = default;
  virtual DeviceType device_type() const = 0;
  virtual Allocator& allocator() = 0;
  virtual ElementwiseKernels& elementwise() = 0;
  virtual ReduceKernels& reduce() = 0;
  virtual LinalgKernels& linalg() = 0;
  virtual IndexKernels& index() = 0;
  virtual SortScanKernels& sort_scan() = 0;
  virtual ConvKernels& conv() = 0;
  virtual RandomKernels& random() = 0;
};

// The backend for a device; throws an Error when moelab was built without it.
Backend& backend_for(Device device);
void register_backend(DeviceType type, Backend* backend);

}  // namespace moelab
