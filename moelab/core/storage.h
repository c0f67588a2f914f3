// A flat, refcounted buffer on one device. Views share it; its version counter is bumped by every
// in-place write, so autograd can tell when a saved tensor was modified.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "moelab/core/allocator.h"
#include "moelab/core/device.h"
#include "moelab/core/object_pool.h"
#include "moelab/core/ref.h"

namespace moelab {

class StorageImpl final : public RefCounted, public Pooled<StorageImpl> {
 public:
  StorageImpl(size_t nbytes, Device device, Allocator& alloc)
      : data_(alloc.allocate(nbytes)), nbytes_(nbytes), device_(device), alloc_(&alloc) {}
  ~StorageImpl() { alloc_->deallocate(data_, nbytes_); }

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  uint32_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

 private:
  void* data_;
  size_t nbytes_;
  Device device_;
  Allocator* alloc_;
  std::atomic<uint32_t> version_{0};
};

using Storage = Ref<StorageImpl>;

}  // namespace moelab
