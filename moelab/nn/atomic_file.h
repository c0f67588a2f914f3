// AtomicFile: writes a file so that readers see either the old content or the complete new
// content, never a half-written file (a crash, a full disk or an exception mid-way leaves the
// target as it was). The data goes to a uniquely named temporary file in the target's directory;
// commit() fsyncs it, renames it over the target and fsyncs the directory. Destroying an
// uncommitted AtomicFile removes the temporary file. POSIX only.
#pragma once
#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>

namespace moelab::nn {

class AtomicFile {
 public:
  // Creates the temporary file beside `target`; `what` names the caller in error messages
  // (e.g. "save_safetensors"). Throws moelab::Error naming the path and the errno text.
  explicit AtomicFile(std::filesystem::path target, std::string what = "atomic write");
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Appends bytes (buffered: small writes are gathered, large ones go straight to the file).
  void write(const void* data, size_t nbytes);
  // Flushes, fsyncs, renames over the target and fsyncs the directory. After a failure the
  // temporary file is gone and the target is untouched (unless the directory fsync failed, which
  // happens after the rename).
  void commit();
  // Removes the temporary file without touching the target; a no-op after commit().
  void abort() noexcept;

  const std::filesystem::path& target() const { return target_; }
  const std::filesystem::path& temp_path() const { return temp_; }

 private:
  [[noreturn]] void fail(const std::string& step, int err);
  void flush_buffer();

  std::filesystem::path target_, temp_;
  std::string what_;
  std::string buffer_;
  int fd_ = -1;
  bool done_ = false;
};

// Runs fill(file) on a new AtomicFile for `path` and commits it; if fill throws, the temporary
// file is removed, the target is left untouched and the exception propagates.
void atomic_write_file(const std::filesystem::path& path, const std::function<void(AtomicFile&)>& fill,
                       const std::string& what = "atomic write");

}  // namespace moelab::nn
