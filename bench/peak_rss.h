// Peak resident-memory growth of one step, measured in a forked child so that neither the parent's
// allocator caches nor another implementation's leftovers count (Linux only).
//
// In the child: build the state (make_step), run the step `warmup` times, call release_caches
// (e.g. empty a caching allocator, so that the measured step starts from an empty cache, as the
// first step of a run does) and hand freed memory back to the kernel (malloc_trim), reset the high-water mark (write "5" to /proc/self/clear_refs, which
// sets VmHWM to the current VmRSS), note VmRSS, run the step once more and read VmHWM. The result
// is VmHWM - VmRSS before the step: the extra memory the step itself needed at its peak
// (activations saved for backward, gradients, temporaries, and whatever a caching allocator keeps
// reserved: the resident memory a training loop of such steps holds), in KiB. The child sets a fixed mmap
// threshold so glibc serves large blocks with mmap/munmap and does not keep them cached in the heap.
#pragma once
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <string>

namespace moelab::bench {

// A field of /proc/self/status in KiB ("VmRSS", "VmHWM"), -1 if absent.
inline long proc_status_kb(const char* field) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long v = -1;
  const size_t n = std::strlen(field);
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, field, n) == 0 && line[n] == ':') {
      v = std::strtol(line + n + 1, nullptr, 10);
      break;
    }
  std::fclose(f);
  return v;
}

inline bool reset_peak_rss() {
  FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (!f) return false;
  const bool ok = std::fputs("5", f) >= 0;
  return (std::fclose(f) == 0) && ok;
}

struct PeakRss {
  long baseline_kb = -1;  // VmRSS before the measured step
  long peak_kb = -1;      // VmHWM during it
  long growth_kb() const { return peak_kb - baseline_kb; }
  bool ok() const { return baseline_kb >= 0 && peak_kb >= 0; }
};

// Runs the measurement in a child process; returns !ok() if it failed.
inline PeakRss measure_peak_rss(const std::function<std::function<void()>()>& make_step,
                               const std::function<void()>& release_caches = {}, int warmup = 2) {
  int fds[2];
  PeakRss r;
  if (pipe(fds) != 0) return r;
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return r;
  if (pid == 0) {
    close(fds[0]);
    PeakRss c;
    try {
      mallopt(M_MMAP_THRESHOLD, 128 * 1024);
      std::function<void()> step = make_step();
      for (int i = 0; i < warmup; ++i) step();
      if (release_caches) release_caches();
      malloc_trim(0);
      if (reset_peak_rss()) {
        c.baseline_kb = proc_status_kb("VmRSS");
        step();
        c.peak_kb = proc_status_kb("VmHWM");
      }
    } catch (...) {
      c = PeakRss{};
    }
    const ssize_t w = write(fds[1], &c, sizeof c);
    _exit(w == static_cast<ssize_t>(sizeof c) ? 0 : 1);
  }
  close(fds[1]);
  PeakRss c;
  if (read(fds[0], &c, sizeof c) == static_cast<ssize_t>(sizeof c)) r = c;
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return r;
}

}  // namespace moelab::bench
