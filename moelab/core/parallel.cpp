#include "moelab/core/parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "moelab/core/error.h"

namespace moelab {
namespace {

thread_local bool t_in_parallel = false;

// Fork-join pool: the caller posts a job split into `nchunks`, workers and the caller claim chunk
// numbers from an atomic counter, and the caller waits until all chunks are done.
class ThreadPool {
 public:
  explicit ThreadPool(int nthreads) { resize(nthreads); }
  ~ThreadPool() { stop(); }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void resize(int nthreads) {
    stop();
    stopping_ = false;
    for (int i = 1; i < nthreads; ++i) workers_.emplace_back([this] { worker_loop(); });
  }

  void run(int64_t nchunks, const std::function<void(int64_t)>& chunk_fn) {
    std::unique_lock job_lock(job_mu_);  // one parallel region at a time
    {
      std::lock_guard lock(mu_);
      fn_ = &chunk_fn;
      nchunks_ = nchunks;
      next_ = 0;
      pending_ = nchunks;
      error_ = nullptr;
      ++generation_;
    }
    cv_.notify_all();
    work();
    std::unique_lock lock(mu_);
    done_cv_.wait(lock, [&] { return pending_ == 0; });
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  void worker_loop() {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || generation_ != seen; });
        if (stopping_) return;
        seen = generation_;
      }
      work();
    }
  }

  // Claims chunks until none are left.
  void work() {
    t_in_parallel = true;
    for (;;) {
      int64_t chunk;
      const std::function<void(int64_t)>* fn;
      {
        std::lock_guard lock(mu_);
        if (!fn_ || next_ >= nchunks_) break;
        chunk = next_++;
        fn = fn_;
      }
      try {
        (*fn)(chunk);
      } catch (...) {
        std::lock_guard lock(mu_);
        if (!error_) error_ = std::current_exception();
      }
      std::lock_guard lock(mu_);
      if (--pending_ == 0) done_cv_.notify_all();
    }
    t_in_parallel = false;
  }

  std::vector<std::thread> workers_;
  std::mutex job_mu_, mu_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int64_t)>* fn_ = nullptr;
  int64_t nchunks_ = 0, next_ = 0, pending_ = 0;
  uint64_t generation_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;
};

int default_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

ThreadPool& pool() {
  static auto* p = new ThreadPool(default_threads());  // leaked: workers must outlive static tensors
  return *p;
}

std::vector<void (*)(int)>& listeners() {
  static std::vector<void (*)(int)> l;
  return l;
}

}  // namespace

// Whether set_num_threads has been called: a listener registered after that call is told the count
// at once (e.g. a backend first used after the program chose its thread count).
std::atomic<bool> g_threads_set{false};

void add_num_threads_listener(void (*listener)(int)) {
  listeners().push_back(listener);
  if (g_threads_set.load()) listener(pool().size());
}

void set_num_threads(int n) {
  MOELAB_CHECK(n >= 1, "set_num_threads: need at least 1 thread, got ", n);
  const bool first = !g_threads_set.exchange(true);
  if (n == pool().size() && !first) return;
  if (n != pool().size()) pool().resize(n);
  for (auto* l : listeners()) l(n);
}

int get_num_threads() { return pool().size(); }

void parallel_for(int64_t begin, int64_t end, int64_t grain,
                  const std::function<void(int64_t, int64_t)>& fn) {
  if (end <= begin) return;
  int64_t n = end - begin;
  grain = std::max<int64_t>(grain, 1);
  int nthreads = get_num_threads();
  if (n <= grain || nthreads == 1 || t_in_parallel) {
    fn(begin, end);
    return;
  }
  int64_t nchunks = std::min<int64_t>((n + grain - 1) / grain, nthreads);
  int64_t chunk = (n + nchunks - 1) / nchunks;
  pool().run(nchunks, [&](int64_t c) {
    int64_t b = begin + c * chunk;
    fn(b, std::min(end, b + chunk));
  });
}

}  // namespace moelab
