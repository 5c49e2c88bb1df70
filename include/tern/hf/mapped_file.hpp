#pragma once
// A read-only view of a whole file: memory-mapped (POSIX mmap, MAP_PRIVATE) where the system
// allows it, else read into memory (pipes, special files, mmap refused). Move-only; the bytes
// stay valid while the object lives. Errors name the file.
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tern::hf {

class mapped_file {
 public:
  /// Maps `path`; with allow_mmap = false always reads it (the fallback path, also for tests).
  explicit mapped_file(const std::string& path, bool allow_mmap = true) : path_(path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("cannot open '" + path + "': " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int e = errno;
      ::close(fd);
      throw std::runtime_error("cannot stat '" + path + "': " + std::strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
      ::close(fd);
      throw std::runtime_error("'" + path + "' is a directory, not a file");
    }
    if (allow_mmap && S_ISREG(st.st_mode) && st.st_size > 0) {
      void* p = ::mmap(nullptr, std::size_t(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
      if (p != MAP_FAILED) {
        map_ = p;
        size_ = std::size_t(st.st_size);
      }
    }
    ::close(fd);
    if (!map_) {  // the fallback: read the whole file
      std::ifstream in(path, std::ios::binary);
      if (!in) throw std::runtime_error("cannot open '" + path + "'");
      copy_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      if (in.bad()) throw std::runtime_error("error while reading '" + path + "'");
      size_ = copy_.size();
    }
  }

  mapped_file(mapped_file&& o) noexcept
      : path_(std::move(o.path_)), map_(std::exchange(o.map_, nullptr)), size_(std::exchange(o.size_, 0)), copy_(std::move(o.copy_)) {}
  mapped_file& operator=(mapped_file&& o) noexcept {
    if (this != &o) {
      release();
      path_ = std::move(o.path_);
      map_ = std::exchange(o.map_, nullptr);
      size_ = std::exchange(o.size_, 0);
      copy_ = std::move(o.copy_);
    }
    return *this;
  }
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  ~mapped_file() { release(); }

  const std::string& path() const { return path_; }
  /// True when the bytes are a memory map (false: a copy in memory).
  bool is_mapped() const { return map_ != nullptr; }
  std::span<const std::uint8_t> bytes() const {
    if (map_) return {static_cast<const std::uint8_t*>(map_), size_};
    return {reinterpret_cast<const std::uint8_t*>(copy_.data()), copy_.size()};
  }

 private:
  void release() {
    if (map_) ::munmap(map_, size_);
    map_ = nullptr;
  }
  std::string path_;
  void* map_ = nullptr;
  std::size_t size_ = 0;
  std::vector<char> copy_;
};

}  // namespace tern::hf
