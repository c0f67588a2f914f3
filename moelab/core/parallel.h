// One intra-op thread pool. parallel_for splits [begin, end) into chunks of at least `grain`
// elements; below one grain it runs inline with no synchronisation at all, so small ops pay nothing.
#pragma once
#include <cstdint>
#include <functional>

namespace moelab {

void set_num_threads(int n);  // n >= 1; the calling thread counts as one
int get_num_threads();

// Called with the new count whenever set_num_threads changes it, so that libraries with pools of
// their own (OpenBLAS) follow moelab's setting instead of oversubscribing the machine. A listener
// registered after the first set_num_threads call is called at once with the current count; until
// set_num_threads is called, each library keeps its own default.
void add_num_threads_listener(void (*listener)(int));

// fn(chunk_begin, chunk_end) is called on disjoint chunks covering [begin, end). Exceptions thrown
// by fn are rethrown in the caller (the first one wins). Nested calls run inline.
void parallel_for(int64_t begin, int64_t end, int64_t grain,
                  const std::function<void(int64_t, int64_t)>& fn);

// Default grain for cheap elementwise work: below this many elements threads cost more than they save.
inline constexpr int64_t kElementwiseGrain = 32768;

}  // namespace moelab
