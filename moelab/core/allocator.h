// Device memory allocators. The CPU one caches freed blocks by size class, so that the small
// tensors of a training step do not hit malloc.
#pragma once
#include <cstddef>
#include <cstdint>

namespace moelab {

struct AllocatorStats {
  int64_t allocated_bytes = 0;  // handed out and not yet returned
  int64_t reserved_bytes = 0;   // allocated + cached
  int64_t peak_allocated_bytes = 0;
  int64_t num_allocs = 0;       // calls to allocate
  int64_t num_cache_hits = 0;   // of those, served from the cache
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* p, size_t nbytes) = 0;
  virtual AllocatorStats stats() const = 0;
  virtual void empty_cache() = 0;
  virtual void reset_peak() = 0;
};

Allocator& cpu_allocator();

// The allocator for a device's memory. CPU is always there; other device types register theirs
// when their backend loads. Throws an Error for a device type with no allocator.
struct Device;
Allocator& allocator_for(Device device);
void register_allocator(int device_type, Allocator* allocator);

}  // namespace moelab
