// Internal to the CPU backend: what its oneDNN users (convolution, large f32 GEMMs) share: one CPU
// engine, a stream per calling thread, and oneDNN's OpenMP thread count kept equal to moelab's.
#pragma once
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>

#include "moelab/core/parallel.h"

namespace moelab::cpu {

inline dnnl::engine& dnnl_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

// A CPU stream is cheap but not free to build; one per calling thread keeps concurrent calls apart.
inline dnnl::stream& dnnl_thread_stream() {
  thread_local dnnl::stream s(dnnl_engine());
  return s;
}

// OpenMP's thread count is a per-thread setting; only touch it when it differs (a cheap read).
inline void sync_dnnl_threads() {
  const int n = get_num_threads();
  if (omp_get_max_threads() != n) omp_set_num_threads(n);
}

}  // namespace moelab::cpu
