#pragma once
// A file opened for reading that is known to be a regular file, with its size fixed at open.
//
// Loaders read through it so that hostile paths fail at once with a clear error instead of
// blocking or misbehaving: a directory, a FIFO (opening one for reading blocks until a writer
// appears), a socket or a device (/dev/zero never ends, a tape may rewind) is refused by its
// kind. The path is checked with stat() before opening and the open descriptor with fstat()
// after (O_NONBLOCK, so even a FIFO swapped in between cannot block the open).
//
// size() is the size at open; remaining() the bytes after the read position. read(p, n)
// reads exactly n bytes or throws, so a caller that bounds every claimed length by
// remaining() before allocating never allocates more than the file holds.
// Errors: std::runtime_error "<who>: '<path>' ..." with the reason (strerror, or the kind).
// POSIX (open, fstat, read); tern targets Linux.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tern {

class regular_file {
 public:
  /// Opens `path` for reading. `who` names the caller in error messages ("load_checkpoint").
  regular_file(const std::string& path, std::string_view who) : path_(path), who_(who) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) fail_errno(errno, "cannot open");
    check_kind(st);
    do fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    while (fd_ < 0 && errno == EINTR);
    if (fd_ < 0) fail_errno(errno, "cannot open");
    if (::fstat(fd_, &st) != 0) {
      const int e = errno;
      close_fd();
      fail_errno(e, "cannot stat");
    }
    try {
      check_kind(st);
    } catch (...) {
      close_fd();
      throw;
    }
    size_ = static_cast<std::uint64_t>(st.st_size);
  }
  regular_file(const regular_file&) = delete;
  regular_file& operator=(const regular_file&) = delete;
  ~regular_file() { close_fd(); }

  const std::string& path() const { return path_; }
  /// The open descriptor (read-only), e.g. to memory-map the file; owned by this object.
  int descriptor() const { return fd_; }
  std::uint64_t size() const { return size_; }
  std::uint64_t position() const { return pos_; }
  std::uint64_t remaining() const { return size_ - pos_; }

  /// Reads exactly n bytes into p (n <= remaining(), else it throws before reading).
  void read(void* p, std::size_t n) {
    if (n > remaining())
      fail("asked for " + std::to_string(n) + " bytes with " + std::to_string(remaining()) + " left");
    auto* dst = static_cast<unsigned char*>(p);
    while (n > 0) {
      const std::size_t chunk = n < (std::size_t(1) << 30) ? n : (std::size_t(1) << 30);
      const ::ssize_t got = ::read(fd_, dst, chunk);
      if (got < 0) {
        if (errno == EINTR) continue;
        fail_errno(errno, "read error");
      }
      if (got == 0) fail("ended after " + std::to_string(pos_) + " of " + std::to_string(size_) + " bytes (it changed while being read)");
      dst += got;
      n -= static_cast<std::size_t>(got);
      pos_ += static_cast<std::uint64_t>(got);
    }
  }

  /// The rest of the file (remaining() bytes).
  std::vector<std::uint8_t> read_rest() {
    if (remaining() > std::vector<std::uint8_t>().max_size()) fail("is too large to hold in memory");
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(remaining()));
    read(bytes.data(), bytes.size());
    return bytes;
  }

 private:
  void check_kind(const struct stat& st) const {
    if (S_ISREG(st.st_mode)) return;
    const char* kind = S_ISDIR(st.st_mode)    ? "a directory"
                       : S_ISFIFO(st.st_mode) ? "a FIFO (named pipe)"
                       : S_ISCHR(st.st_mode)  ? "a character device"
                       : S_ISBLK(st.st_mode)  ? "a block device"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                                              : "not a regular file";
    fail(std::string("is ") + kind + ", not a regular file");
  }
  void close_fd() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error(who_ + ": '" + path_ + "': " + what);
  }
  [[noreturn]] void fail_errno(int error, const char* what) const { fail(std::string(what) + ": " + std::strerror(error)); }

  std::string path_, who_;
  int fd_ = -1;
  std::uint64_t size_ = 0, pos_ = 0;
};

}  // namespace tern
