#include "moelab/nn/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <system_error>

#include "moelab/core/error.h"

namespace moelab::nn {
namespace {

constexpr size_t kBufferBytes = size_t{1} << 20;

std::string errno_text(int err) { return std::generic_category().message(err); }

std::filesystem::path directory_of(const std::filesystem::path& p) {
  std::filesystem::path dir = p.parent_path();
  return dir.empty() ? std::filesystem::path(".") : dir;
}

}  // namespace

AtomicFile::AtomicFile(std::filesystem::path target, std::string what)
    : target_(std::move(target)), what_(std::move(what)) {
  MOELAB_CHECK(!target_.empty() && target_.has_filename(), what_, ": \"", target_.string(),
               "\" does not name a file");
  static std::atomic<uint64_t> counter{0};
  const std::filesystem::path dir = directory_of(target_);
  const std::string stem = target_.filename().string() + ".tmp." + std::to_string(::getpid()) + ".";
  for (int attempt = 0; fd_ < 0; ++attempt) {
    temp_ = dir / (stem + std::to_string(counter.fetch_add(1)));
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ >= 0) break;
    int err = errno;
    if ((err == EEXIST || err == EINTR) && attempt < 100) continue;
    std::filesystem::path tried = temp_;
    temp_.clear();  // nothing of ours to remove
    MOELAB_FAIL(what_, ": cannot write \"", target_.string(), "\": creating the temporary file \"", tried.string(),
                "\" failed: ", errno_text(err));
  }
  // Replacing a file keeps its permissions (the temporary file got the umask default).
  struct stat st {};
  if (::stat(target_.c_str(), &st) == 0 && S_ISREG(st.st_mode)) (void)::fchmod(fd_, st.st_mode & 07777);
}

AtomicFile::~AtomicFile() { abort(); }

void AtomicFile::abort() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!done_ && !temp_.empty()) ::unlink(temp_.c_str());
  done_ = true;
}

void AtomicFile::fail(const std::string& step, int err) {
  abort();
  MOELAB_FAIL(what_, ": cannot write \"", target_.string(), "\": ", step, " failed: ", errno_text(err));
}

namespace {
// Writes everything, retrying short writes and EINTR; returns 0 or the errno.
int write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (w == 0) return EIO;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return 0;
}
}  // namespace

void AtomicFile::flush_buffer() {
  if (buffer_.empty()) return;
  if (int err = write_all(fd_, buffer_.data(), buffer_.size())) fail("writing \"" + temp_.string() + "\"", err);
  buffer_.clear();
}

void AtomicFile::write(const void* data, size_t nbytes) {
  MOELAB_CHECK(!done_ && fd_ >= 0, what_, ": \"", target_.string(), "\" was already committed or aborted");
  const char* p = static_cast<const char*>(data);
  if (buffer_.size() + nbytes <= kBufferBytes) {
    buffer_.append(p, nbytes);
    return;
  }
  flush_buffer();
  if (nbytes >= kBufferBytes) {
    if (int err = write_all(fd_, p, nbytes)) fail("writing \"" + temp_.string() + "\"", err);
  } else {
    buffer_.append(p, nbytes);
  }
}

void AtomicFile::commit() {
  MOELAB_CHECK(!done_ && fd_ >= 0, what_, ": \"", target_.string(), "\" was already committed or aborted");
  flush_buffer();
  if (::fsync(fd_) != 0) fail("fsync of \"" + temp_.string() + "\"", errno);
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail("closing \"" + temp_.string() + "\"", errno);
  if (::rename(temp_.c_str(), target_.c_str()) != 0)
    fail("renaming \"" + temp_.string() + "\" over it", errno);
  done_ = true;  // the temporary file is now the target
  // Make the rename itself durable. Some file systems cannot fsync a directory (EINVAL): the
  // rename is then as durable as that file system makes it.
  const std::filesystem::path dir = directory_of(target_);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) fail("opening its directory \"" + dir.string() + "\" to fsync it", errno);
  int rc = ::fsync(dfd);
  int err = errno;
  ::close(dfd);
  if (rc != 0 && err != EINVAL) fail("fsync of its directory \"" + dir.string() + "\"", err);
}

void atomic_write_file(const std::filesystem::path& path, const std::function<void(AtomicFile&)>& fill,
                       const std::string& what) {
  AtomicFile file(path, what);
  fill(file);  // if this throws, ~AtomicFile removes the temporary file
  file.commit();
}

}  // namespace moelab::nn
