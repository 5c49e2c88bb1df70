#pragma once
// Writes a file so that `path` holds either its old content or the complete new one, never a
// torn mix: the bytes go to `path + ".tmp"`, and commit() flushes tern's buffer, fsync()s,
// closes and renames the temporary over `path` (rename is atomic on POSIX file systems), then
// fsync()s the directory so the rename itself is durable.
//
// Every step is checked: a failed write (a full disk, a file-size limit, an I/O error), fsync,
// close or rename throws std::runtime_error "<who>: ... '<path>': <strerror>", and the
// temporary is removed, so `path` keeps its old content. Destroying the writer without a
// commit() (an exception while producing the bytes) removes the temporary too.
// POSIX (open, write, fsync, rename); tern targets Linux.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace tern {

class atomic_file_writer {
 public:
  /// Creates (or truncates) `path + ".tmp"`. `who` names the caller in error messages.
  atomic_file_writer(const std::string& path, std::string_view who)
      : path_(path), tmp_(path + ".tmp"), who_(who) {
    do fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    while (fd_ < 0 && errno == EINTR);
    if (fd_ < 0) fail_errno(errno, "cannot create", tmp_);
  }
  atomic_file_writer(const atomic_file_writer&) = delete;
  atomic_file_writer& operator=(const atomic_file_writer&) = delete;
  ~atomic_file_writer() { abandon(); }

  const std::string& path() const { return path_; }
  std::uint64_t bytes_written() const { return written_ + used_; }

  /// Appends n bytes (buffered; large blocks go straight to the file).
  void write(const void* p, std::size_t n) {
    const auto* src = static_cast<const char*>(p);
    if (n > buffer_bytes - used_) flush_buffer();
    if (n > buffer_bytes) return write_fd(src, n);
    if (n != 0) std::memcpy(buffer_.get() + used_, src, n);
    used_ += n;
  }

  /// Makes the new content visible at path(): flush, fsync, close, rename, fsync the directory.
  void commit() {
    if (done_) throw std::logic_error(who_ + ": commit() called twice on '" + path_ + "'");
    try {
      flush_buffer();
      if (::fsync(fd_) != 0) fail_errno(errno, "fsync failed on", tmp_);
      const int fd = fd_;
      fd_ = -1;
      if (::close(fd) != 0) fail_errno(errno, "close failed on", tmp_);
      if (std::rename(tmp_.c_str(), path_.c_str()) != 0) fail_errno(errno, "cannot rename", tmp_, &path_);
    } catch (...) {
      abandon();
      throw;
    }
    done_ = true;
    sync_directory();
  }

 private:
  static constexpr std::size_t buffer_bytes = std::size_t(1) << 20;

  void flush_buffer() {
    if (used_ == 0) return;
    write_fd(buffer_.get(), used_);
    used_ = 0;
  }
  void write_fd(const char* p, std::size_t n) {
    while (n > 0) {
      const std::size_t chunk = n < (std::size_t(1) << 30) ? n : (std::size_t(1) << 30);
      const ::ssize_t put = ::write(fd_, p, chunk);
      if (put < 0) {
        if (errno == EINTR) continue;
        fail_errno(errno, "write failed on", tmp_);
      }
      p += put;
      n -= static_cast<std::size_t>(put);
      written_ += static_cast<std::uint64_t>(put);
    }
  }
  // The rename is durable once the directory entry is on disk. Best effort: a directory that
  // cannot be opened or synced (some file systems refuse fsync on directories) leaves the
  // renamed, complete file in place, which is all the caller was promised.
  void sync_directory() noexcept {
    const auto slash = path_.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path_.substr(0, slash);
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    (void)::fsync(fd);
    ::close(fd);
  }
  void abandon() noexcept {
    if (done_) return;
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    ::unlink(tmp_.c_str());
    done_ = true;
  }
  // The arguments allocate nothing, so errno is passed as the failing call left it.
  [[noreturn]] void fail_errno(int error, const char* what, const std::string& file,
                               const std::string* to = nullptr) const {
    std::string msg = who_ + ": " + what + " '" + file + "'";
    if (to) msg += " to '" + *to + "'";
    throw std::runtime_error(msg + ": " + std::strerror(error));
  }

  std::string path_, tmp_, who_;
  int fd_ = -1;
  bool done_ = false;  // renamed into place, or the temporary removed
  std::unique_ptr<char[]> buffer_ = std::make_unique<char[]>(buffer_bytes);
  std::size_t used_ = 0;
  std::uint64_t written_ = 0;
};

}  // namespace tern
