// Allocator, thread pool, errors.
#include <cblas.h>

#include <atomic>
#include <stdexcept>

#include "support/check.h"

using namespace moelab;

TEST_CASE("allocator: freed blocks are reused and statistics add up") {
  Allocator& a = cpu_allocator();
  a.empty_cache();
  AllocatorStats s0 = a.stats();
  { Tensor t = zeros({1000}); }
  [[maybe_unused]] AllocatorStats s1 = a.stats();
  { Tensor t = zeros({1000}); }
  AllocatorStats s2 = a.stats();
#ifndef MOELAB_SANITIZE  // sanitizer builds cache nothing
  CHECK(s2.num_cache_hits == s1.num_cache_hits + 1);
#endif
  CHECK(s2.allocated_bytes == s0.allocated_bytes);
  CHECK(s2.peak_allocated_bytes >= s0.allocated_bytes + 4000);
  CHECK(s2.reserved_bytes >= s2.allocated_bytes);
  a.empty_cache();
  CHECK(a.stats().reserved_bytes == a.stats().allocated_bytes);
}

TEST_CASE("parallel_for covers the range exactly once and rethrows errors") {
  set_num_threads(2);
  CHECK(get_num_threads() == 2);
  std::vector<std::atomic<int>> hits(100000);
  parallel_for(0, 100000, 1000, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
  });
  bool all_once = true;
  for (auto& h : hits) all_once &= h.load() == 1;
  CHECK(all_once);
  CHECK_THROWS_AS(parallel_for(0, 100000, 10,
                               [](int64_t b, int64_t) {
                                 if (b > 0) throw std::runtime_error("boom");
                               }),
                  std::runtime_error);
  CHECK_MOELAB_ERROR(set_num_threads(0), "set_num_threads: need at least 1 thread");
}

TEST_CASE("error: moelab::Error is a std::runtime_error with the message") {
  try {
    MOELAB_CHECK(1 + 1 == 3, "op: ", 2, " and ", Shape{2, 3});
    FAIL("no throw");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()) == "op: 2 and [2, 3]");
  }
}

TEST_CASE("set_num_threads also sets OpenBLAS's thread count") {
  (void)zeros({1});  // the CPU backend is loaded
  set_num_threads(1);
  CHECK(openblas_get_num_threads() == 1);
  set_num_threads(2);
  CHECK(openblas_get_num_threads() == 2);
}

namespace {
int g_listener_calls = 0, g_listener_count = 0;
void record_threads(int n) {
  ++g_listener_calls;
  g_listener_count = n;
}
}  // namespace

TEST_CASE("runtime: a thread-count listener registered after set_num_threads hears the count at once") {
  const int before = get_num_threads();
  set_num_threads(1);
  g_listener_calls = 0;
  add_num_threads_listener(record_threads);
  CHECK(g_listener_calls == 1);
  CHECK(g_listener_count == 1);
  set_num_threads(2);
  CHECK(g_listener_calls == 2);
  CHECK(g_listener_count == 2);
  set_num_threads(2);  // unchanged: not called again
  CHECK(g_listener_calls == 2);
  set_num_threads(before);
}
