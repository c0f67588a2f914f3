// Recycles the memory of small, hot objects (TensorImpl, StorageImpl) through a per-thread free
// list, so creating a tensor costs no malloc in a steady state. An object freed on another thread
// joins that thread's list. The lists are trivially destructible arrays, so tensors destroyed
// during static destruction stay safe; a thread-local Releaser hands a list's blocks back when its
// thread exits (threads that come and go, like a DataLoader's producer, would leak them otherwise)
// and from then on that thread's frees bypass the list.
#pragma once
#include <cstddef>
#include <new>

namespace moelab {

template <class T, int kSlots = 256>
class Pooled {
 public:
  // Sanitizer builds bypass the pool so that AddressSanitizer sees every use after free.
#ifdef MOELAB_SANITIZE
  static constexpr bool kEnabled = false;
#else
  static constexpr bool kEnabled = true;
#endif

  static void* operator new(size_t n) {
    if (kEnabled && n == sizeof(T) && count_ > 0) return slots_[--count_];
    return ::operator new(n);
  }
  static void operator delete(void* p, size_t n) {
    if (kEnabled && n == sizeof(T) && count_ < kSlots && !released_) {
      if (count_ == 0) releaser_.arm();  // registers the thread-exit release on first use
      slots_[count_++] = p;
      return;
    }
    ::operator delete(p);
  }

 private:
  struct Releaser {
    void arm() {}
    ~Releaser() {
      released_ = true;
      while (count_ > 0) ::operator delete(slots_[--count_]);
    }
  };
  static thread_local inline void* slots_[kSlots] = {};
  static thread_local inline int count_ = 0;
  static thread_local inline bool released_ = false;
  static thread_local inline Releaser releaser_;
};

}  // namespace moelab
