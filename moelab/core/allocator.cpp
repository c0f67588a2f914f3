#include "moelab/core/allocator.h"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

#include "moelab/core/device.h"
#include "moelab/core/error.h"

namespace moelab {
namespace {

// Blocks are rounded up to a power of two (at least 64 bytes) and kept on one free list per size
// class. Blocks above kMaxCached go straight back to the system: caching huge buffers would hold
// memory hostage, and malloc is cheap relative to touching that much memory anyway.
class CachingCpuAllocator final : public Allocator {
 public:
  static constexpr size_t kAlign = 64;
#ifdef MOELAB_SANITIZE
  // Sanitizer builds cache nothing, so that AddressSanitizer sees every use after free.
  static constexpr size_t kMaxCached = 0;
#else
  static constexpr size_t kMaxCached = size_t{1} << 26;  // 64 MiB
#endif
  static constexpr int kClasses = 27;

  ~CachingCpuAllocator() override { empty_cache(); }

  void* allocate(size_t nbytes) override {
    size_t cls = size_class(nbytes);
    size_t bytes = size_t{1} << cls;
    {
      std::lock_guard lock(mu_);
      ++stats_.num_allocs;
      if (cls < kClasses && !free_[cls].empty()) {
        void* p = free_[cls].back();
        free_[cls].pop_back();
        ++stats_.num_cache_hits;
        account_alloc(bytes, /*fresh=*/false);
        return p;
      }
    }
    void* p = std::aligned_alloc(kAlign, cls < kClasses ? bytes : round_up(nbytes));
    if (!p) {
      empty_cache();
      p = std::aligned_alloc(kAlign, cls < kClasses ? bytes : round_up(nbytes));
    }
    MOELAB_CHECK(p != nullptr, "cpu allocator: out of memory allocating ", nbytes, " bytes");
    std::lock_guard lock(mu_);
    account_alloc(cls < kClasses ? bytes : round_up(nbytes), /*fresh=*/true);
    return p;
  }

  void deallocate(void* p, size_t nbytes) override {
    if (!p) return;
    size_t cls = size_class(nbytes);
    std::lock_guard lock(mu_);
    if (cls < kClasses) {
      stats_.allocated_bytes -= static_cast<int64_t>(size_t{1} << cls);
      free_[cls].push_back(p);
      return;
    }
    stats_.allocated_bytes -= static_cast<int64_t>(round_up(nbytes));
    stats_.reserved_bytes -= static_cast<int64_t>(round_up(nbytes));
    std::free(p);
  }

  AllocatorStats stats() const override {
    std::lock_guard lock(mu_);
    return stats_;
  }

  void empty_cache() override {
    std::lock_guard lock(mu_);
    for (size_t c = 0; c < kClasses; ++c) {
      for (void* p : free_[c]) std::free(p);
      stats_.reserved_bytes -= static_cast<int64_t>(free_[c].size() << c);
      free_[c].clear();
    }
  }

  void reset_peak() override {
    std::lock_guard lock(mu_);
    stats_.peak_allocated_bytes = stats_.allocated_bytes;
  }

 private:
  static size_t round_up(size_t n) { return (std::max<size_t>(n, 1) + kAlign - 1) / kAlign * kAlign; }
  static size_t size_class(size_t n) {
    size_t b = std::bit_ceil(std::max<size_t>(n, kAlign));
    return b > kMaxCached ? kClasses : static_cast<size_t>(std::countr_zero(b));
  }
  void account_alloc(size_t bytes, bool fresh) {
    stats_.allocated_bytes += static_cast<int64_t>(bytes);
    if (fresh) stats_.reserved_bytes += static_cast<int64_t>(bytes);
    stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
  }

  mutable std::mutex mu_;
  std::vector<void*> free_[kClasses];
  AllocatorStats stats_;
};

}  // namespace

namespace {
Allocator* g_allocators[kNumDeviceTypes] = {};
}

void register_allocator(int device_type, Allocator* allocator) { g_allocators[device_type] = allocator; }

Allocator& allocator_for(Device device) {
  if (device.is_cpu()) return cpu_allocator();
  Allocator* a = g_allocators[static_cast<int>(device.type)];
  MOELAB_CHECK(a != nullptr, "no allocator for device ", device, ": moelab was built without its backend");
  return *a;
}

Allocator& cpu_allocator() {
  // Leaked on purpose: tensors in static objects may be freed after main returns.
  static auto* a = new CachingCpuAllocator();
  return *a;
}

}  // namespace moelab
