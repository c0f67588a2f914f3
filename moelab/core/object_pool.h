// Recycles the memory of small, hot objects (TensorImpl, StorageImpl) through a per-thread free
// list, so creating a tensor costs no malloc in a steady state. An object freed on another thread
// joins that thread's list. The lists are trivially destructible arrays: they never run a
// destructor, so tensors destroyed during static destruction stay safe.
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
    if (kEnabled && n == sizeof(T) && count_ < kSlots) {
      slots_[count_++] = p;
      return;
    }
    ::operator delete(p);
  }

 private:
  static thread_local inline void* slots_[kSlots] = {};
  static thread_local inline int count_ = 0;
};

}  // namespace moelab
