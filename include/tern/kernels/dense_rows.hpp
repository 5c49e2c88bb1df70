#pragma once
// Storage of the dense (non-ternary) weight formats of the inference runtime (packed_int8,
// packed_bf16): M rows of K elements of type E, each row padded with zeros to a multiple of 64
// bytes (one cache line, one zmm register), rows contiguous, the whole array 64-byte aligned.
// Like the packed ternary formats, the bytes are either owned or borrowed from memory the caller
// keeps alive (a memory-mapped model file); copies of a borrowed matrix share the bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "tern/core/matrix.hpp"
#include "tern/core/shape_error.hpp"
#include "tern/kernels/arch.hpp"
#include "tern/kernels/packed_ternary.hpp"

namespace tern::kernels {
inline namespace TERN_KERNELS_ABI {
namespace detail {

/// E: the element type (std::int8_t, std::uint16_t for bf16).
template <class E>
class dense_rows {
 public:
  /// Elements per 64-byte line.
  static constexpr index line = static_cast<index>(64 / sizeof(E));

  index rows() const { return rows_; }
  index cols() const { return cols_; }
  /// Elements per stored row (cols rounded up to whole 64-byte lines).
  index padded_cols() const { return padded_; }
  index row_bytes() const { return padded_ * static_cast<index>(sizeof(E)); }
  const E* row(index i) const { return data_ + i * padded_; }
  const E* data() const { return data_; }
  /// Bytes of stored weights (what a GEMV streams).
  std::size_t bytes() const { return static_cast<std::size_t>(rows_ * row_bytes()); }
  bool borrowed() const { return keep_alive_ != nullptr; }

  /// The bytes a matrix of rows x cols elements occupies in this layout.
  static std::size_t bytes_for(index rows, index cols) {
    return static_cast<std::size_t>(rows * padded(cols) * static_cast<index>(sizeof(E)));
  }

  dense_rows(const dense_rows& o) : rows_(o.rows_), cols_(o.cols_), padded_(o.padded_), own_(o.own_), keep_alive_(o.keep_alive_) {
    data_ = keep_alive_ ? o.data_ : own_.data();
  }
  dense_rows& operator=(const dense_rows& o) {
    if (this != &o) *this = dense_rows(o);
    return *this;
  }
  dense_rows(dense_rows&& o) noexcept { swap(o); }
  dense_rows& operator=(dense_rows&& o) noexcept {
    dense_rows tmp(std::move(o));
    swap(tmp);
    return *this;
  }

 protected:
  dense_rows() = default;
  ~dense_rows() = default;

  /// Owned, zeroed storage for rows x cols.
  dense_rows(std::string_view where, index rows, index cols) : rows_(rows), cols_(cols), padded_(padded(cols)) {
    check_shape(where, rows, cols);
    own_ = aligned_buffer<E>(static_cast<std::size_t>(rows * padded_));
    data_ = own_.data();
  }
  /// Borrowed storage: bytes.get() is 64-byte aligned and holds bytes_for(rows, cols) bytes.
  dense_rows(std::string_view where, std::shared_ptr<const std::uint8_t> bytes, index rows, index cols)
      : rows_(rows), cols_(cols), padded_(padded(cols)) {
    check_shape(where, rows, cols);
    if (!bytes) throw std::invalid_argument(std::string(where) + ": no weight bytes given");
    if (reinterpret_cast<std::uintptr_t>(bytes.get()) % 64 != 0)
      throw std::invalid_argument(std::string(where) + ": weight bytes are not 64-byte aligned");
    keep_alive_ = std::move(bytes);
    data_ = reinterpret_cast<const E*>(keep_alive_.get());
  }
  E* mutable_row(index i) { return own_.data() + i * padded_; }

 private:
  static index padded(index cols) { return (cols + line - 1) / line * line; }
  static void check_shape(std::string_view where, index rows, index cols) {
    if (rows <= 0 || cols <= 0)
      throw shape_error(std::string(where) + ": weights are " + tern::detail::shape_str(rows, cols) +
                        ", expected at least 1x1");
  }
  void swap(dense_rows& o) noexcept {
    std::swap(rows_, o.rows_);
    std::swap(cols_, o.cols_);
    std::swap(padded_, o.padded_);
    std::swap(own_, o.own_);
    std::swap(keep_alive_, o.keep_alive_);
    std::swap(data_, o.data_);
  }

  index rows_ = 0, cols_ = 0, padded_ = 0;
  aligned_buffer<E> own_;
  std::shared_ptr<const std::uint8_t> keep_alive_;
  const E* data_ = nullptr;
};

/// Splits `rows` rows into ex.concurrency() contiguous parts of whole `tile`-row tiles and calls
/// f(i0, i1) for each part (the parallel scheme of the dense head kernels).
template <class Exec, class F>
void for_row_parts(Exec& ex, index rows, index tile, F&& f) {
  const index tiles = (rows + tile - 1) / tile;
  const index parts = std::max<index>(1, std::min<index>(ex.concurrency(), tiles));
  ex.parallel_for(parts, [&](index p) {
    const index i0 = std::min(rows, tiles * p / parts * tile), i1 = std::min(rows, tiles * (p + 1) / parts * tile);
    if (i0 < i1) f(i0, i1);
  });
}

}  // namespace detail
}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels
