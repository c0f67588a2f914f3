// The CPU backend's vectorised f32 softmax row (cpu_softmax_f32.cpp), used by SortScanKernels::softmax
// for contiguous f32 rows.
#pragma once
#include <cstdint>

namespace moelab::cpu {

// q[0, n) = softmax (or, with log, log_softmax) of p[0, n). q may be p (in place).
void softmax_row_f32(const float* p, float* q, int64_t n, bool log);

}  // namespace moelab::cpu
