#pragma once
// The 2-bit packed ternary weight format the kernels read ("tq2" in benchmark names).
//
// Layout along K (shared with quantized_activations through k_layout):
//   K is cut into groups of G columns (one scale and one int32 accumulator each; G = K for
//   per-tensor and per-row scales). Each group is stored padded to a whole number of blocks
//   of 256 weights, so no shape rule is imposed on M, K or G: tails are zero padding.
// Block of 256 weights = 64 bytes:
//   byte j (0..63) holds the weights at block positions j, j+64, j+128, j+192 in bit pairs
//   [1:0], [3:2], [5:4], [7:6], each stored as the unsigned code c = w + 1 in {0, 1, 2}
//   (padding is stored as 1, i.e. w = 0).
//   So (byte >> 2s) & 3 over 64 consecutive bytes gives 64 codes that line up with 64
//   *consecutive* activations (positions 64s .. 64s+63): any vector width that divides 64 bytes
//   (16, 32, 64) unpacks with one shift and one mask and no shuffle.
// Rows: row i starts at data + i * row_bytes(), row_bytes() = padded_k / 4, 64-byte aligned.
// Scales: float, scale_rows x groups (scale_rows = 1 per tensor, = M per row/per group); the
//   dequantized weight is w(i, j) * scale(i, j / G), as in tern::quantized. Finite (checked).
// Valid by construction: every constructor checks shapes, codes and scales and throws naming
// the offending operand; the only other state is the empty one (default-constructed or moved
// from: rows() == 0), which the products refuse at their entry point.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>

#include "tern/core/matrix.hpp"
#include "tern/core/shape_error.hpp"
#include "tern/kernels/arch.hpp"
#include "tern/quant/quantized.hpp"

namespace tern::kernels {
inline namespace TERN_KERNELS_ABI {

namespace detail {

/// A 64-byte aligned, zero-initialised array (one cache line / one zmm per 64 bytes).
template <class T>
class aligned_buffer {
 public:
  aligned_buffer() = default;
  explicit aligned_buffer(std::size_t n) : n_(n) {
    if (n == 0) return;
    if (n > (std::numeric_limits<std::size_t>::max() - 63) / sizeof(T))
      throw std::length_error("tern::kernels: a buffer of " + std::to_string(n) + " elements overflows size_t");
    const std::size_t bytes = (n * sizeof(T) + 63) / 64 * 64;
    p_.reset(static_cast<T*>(::operator new(bytes, std::align_val_t{64})));
    std::memset(static_cast<void*>(p_.get()), 0, bytes);
  }
  aligned_buffer(const aligned_buffer& o) : aligned_buffer(o.n_) {
    if (n_) std::memcpy(static_cast<void*>(p_.get()), o.p_.get(), n_ * sizeof(T));
  }
  aligned_buffer& operator=(const aligned_buffer& o) {
    if (this != &o) *this = aligned_buffer(o);
    return *this;
  }
  aligned_buffer(aligned_buffer&&) noexcept = default;
  aligned_buffer& operator=(aligned_buffer&&) noexcept = default;

  T* data() { return p_.get(); }
  const T* data() const { return p_.get(); }
  std::size_t size() const { return n_; }
  T& operator[](std::size_t i) { return p_[i]; }
  const T& operator[](std::size_t i) const { return p_[i]; }

 private:
  struct deleter {
    void operator()(T* p) const { ::operator delete(p, std::align_val_t{64}); }
  };
  std::unique_ptr<T[], deleter> p_;
  std::size_t n_ = 0;
};

}  // namespace detail

/// How K is split into scale groups and padded into blocks (see the file comment). A block is
/// 64 packed bytes: 256 weights in packed_ternary (tq2), 320 in packed_ternary_base3 (tq1).
/// Made by make(), which checks every bound; valid() tells whether a hand-built one is
/// consistent (the entry points that take a k_layout check it).
struct k_layout {
  /// Bytes per block (one cache line, one zmm register), whatever the format.
  static constexpr index block_bytes = 64;
  /// The longest padded group whose int32 accumulators are exact: the kernels' partial sums of
  /// codes c = w + 1 times int8 activations span [-256 P, 254 P] for a group padded to P columns
  /// (reference.hpp), which int32 holds while P <= 2^23. So K <= 8388608 per group in tq2
  /// (blocks of 256) and K <= 8388480 in tq1 (blocks of 320, 26214 of them).
  static constexpr index max_padded_group = index(1) << 23;

  index block = 256;          ///< weights per block (64 packed bytes)
  index k = 0;                ///< logical columns
  index group = 0;            ///< columns per group (k for one group per row)
  index groups = 0;           ///< ceil(k / group)
  index blocks_per_group = 0; ///< ceil(group / block)

  /// group <= 0 or group >= k means one group spanning the whole row. Throws
  /// std::invalid_argument for k <= 0 or a block that is not a positive multiple of 64, and
  /// shape_error for a group past max_padded_group (naming K, the group and the bound).
  static k_layout make(index k, index group, index block = 256) {
    constexpr std::string_view where = "tern::kernels::k_layout";
    if (k <= 0) throw std::invalid_argument(std::string(where) + ": k must be positive, got " + std::to_string(k));
    if (block <= 0 || block % block_bytes != 0)
      throw std::invalid_argument(std::string(where) + ": block must be a positive multiple of 64 weights, got " +
                                  std::to_string(block));
    k_layout l;
    l.block = block;
    l.k = k;
    l.group = (group <= 0 || group >= k) ? k : group;
    l.groups = (k - 1) / l.group + 1;
    l.blocks_per_group = (l.group - 1) / block + 1;
    if (l.blocks_per_group > max_padded_group / block)
      throw shape_error(std::string(where) + ": K = " + std::to_string(k) + " with groups of " +
                        std::to_string(l.group) + " columns pads each group to " +
                        std::to_string(l.blocks_per_group) + " blocks of " + std::to_string(block) +
                        ", more than the " + std::to_string(max_padded_group / block * block) +
                        " columns per group whose int32 accumulators are exact; use smaller groups");
    index padded = 0;
    if (__builtin_mul_overflow(l.groups, l.blocks_per_group * block, &padded))
      throw shape_error(std::string(where) + ": K = " + std::to_string(k) + " with groups of " +
                        std::to_string(l.group) + " overflows the padded length");
    return l;
  }
  /// True when the fields are what make(k, group, block) gives (a hand-built layout may not be).
  bool valid() const {
    if (k <= 0 || block <= 0 || block % block_bytes != 0 || group <= 0 || group > k) return false;
    if (groups != (k - 1) / group + 1 || blocks_per_group != (group - 1) / block + 1) return false;
    if (blocks_per_group > max_padded_group / block) return false;
    index padded = 0;
    return !__builtin_mul_overflow(groups, blocks_per_group * block, &padded);
  }
  index padded_group() const { return blocks_per_group * block; }
  index padded_k() const { return groups * padded_group(); }
  /// Packed bytes per row (64 per block).
  index row_bytes() const { return groups * blocks_per_group * block_bytes; }
  /// Position of logical column j in the padded row.
  index position(index j) const { return (j / group) * padded_group() + j % group; }
  friend bool operator==(const k_layout&, const k_layout&) = default;
};

namespace detail {

/// What both packed formats (packed_ternary, packed_ternary_base3) share: M rows of
/// row_bytes() bytes (contiguous, 64-byte aligned) laid out along K by a k_layout, the scales,
/// the checks of packing, and the accessors the kernels read. Derived supplies the byte format:
/// the packing loop and `std::int8_t code(index i, index j) const`.
///
/// Storage: the packed bytes are either owned (packing allocates them) or borrowed from memory
/// the caller keeps alive through a shared_ptr (a memory-mapped model file: see from_bytes in
/// each format). Copies of a borrowed matrix share the borrowed bytes; the kernels only read.
template <class Derived>
class packed_rows {
 public:
  index rows() const { return rows_; }
  index cols() const { return layout_.k; }
  const k_layout& layout() const { return layout_; }
  const matrix<float>& scales() const { return scales_; }
  /// Scale of row i, group g.
  float scale(index i, index g) const { return scales_(scales_.rows() == 1 ? 0 : i, g); }
  index row_bytes() const { return row_bytes_; }
  const std::uint8_t* row(index i) const { return bytes_ + i * row_bytes_; }
  /// The packed bytes, rows() * row_bytes() of them.
  const std::uint8_t* data() const { return bytes_; }
  /// Bytes of packed weights (what a GEMV streams), scales excluded.
  std::size_t bytes() const { return static_cast<std::size_t>(rows_ * row_bytes_); }
  /// True when the bytes are borrowed (from_bytes), false when this object owns them.
  bool borrowed() const { return keep_alive_ != nullptr; }
  /// True for a default-constructed or moved-from matrix (no rows); the products refuse it.
  bool empty() const { return rows_ == 0; }

  /// The lossless inverse of packing.
  quantized<float> unpack() const {
    quantized<float> q;
    q.codes.resize(rows_, layout_.k);
    for (index i = 0; i < rows_; ++i)
      for (index j = 0; j < layout_.k; ++j) q.codes(i, j) = static_cast<const Derived&>(*this).code(i, j);
    q.scales = scales_;
    q.group = layout_.group;
    return q;
  }

  packed_rows(const packed_rows& o)
      : rows_(o.rows_), layout_(o.layout_), row_bytes_(o.row_bytes_), scales_(o.scales_), own_(o.own_),
        keep_alive_(o.keep_alive_) {
    bytes_ = keep_alive_ ? o.bytes_ : own_.data();
  }
  packed_rows& operator=(const packed_rows& o) {
    if (this != &o) *this = packed_rows(o);
    return *this;
  }
  packed_rows(packed_rows&& o) noexcept { swap(o); }
  packed_rows& operator=(packed_rows&& o) noexcept {
    packed_rows tmp(std::move(o));
    swap(tmp);
    return *this;
  }

 protected:
  packed_rows() = default;
  ~packed_rows() = default;
  /// Checks the shapes (codes at least 1 x 1, scales 1 x groups or M x groups), makes the
  /// layout for blocks of `block_weights` and allocates zeroed rows; `where` names the format in
  /// the errors.
  packed_rows(std::string_view where, const matrix<std::int8_t>& codes, const matrix<float>& scales, index group,
              index block_weights)
      : rows_(codes.rows()) {
    if (codes.rows() <= 0 || codes.cols() <= 0)
      throw shape_error(std::string(where) + ": codes is " + tern::detail::shape_str(codes.rows(), codes.cols()) +
                        ", expected at least 1x1");
    init(where, codes.cols(), group, block_weights, scales);
    own_ = aligned_buffer<std::uint8_t>(bytes());
    bytes_ = own_.data();
  }

  /// A matrix over `rows` rows of already packed bytes at bytes.get() (64-byte aligned, kept
  /// alive by `bytes`): `available` bytes there (std::invalid_argument if fewer than
  /// rows * row_bytes(); SIZE_MAX: the caller vouches for the size).
  packed_rows(std::string_view where, std::shared_ptr<const std::uint8_t> bytes, std::size_t available, index rows,
              index k, index group, const matrix<float>& scales, index block_weights)
      : rows_(rows) {
    if (rows <= 0 || k <= 0)
      throw shape_error(std::string(where) + ": packed weights are " + tern::detail::shape_str(rows, k) +
                        ", expected at least 1x1");
    if (!bytes) throw std::invalid_argument(std::string(where) + ": no packed bytes given");
    if (reinterpret_cast<std::uintptr_t>(bytes.get()) % 64 != 0)
      throw std::invalid_argument(std::string(where) + ": packed bytes are not 64-byte aligned");
    init(where, k, group, block_weights, scales);
    if (available < this->bytes())
      throw std::invalid_argument(std::string(where) + ": " + std::to_string(rows) + " rows of K = " +
                                  std::to_string(k) + " need " + std::to_string(this->bytes()) + " packed bytes, " +
                                  std::to_string(available) + " given");
    keep_alive_ = std::move(bytes);
    bytes_ = keep_alive_.get();
  }

  /// codes(i, j), which must be in {-1, 0, 1} (std::invalid_argument naming it otherwise).
  static int ternary_code(std::string_view where, const matrix<std::int8_t>& codes, index i, index j) {
    const int w = codes(i, j);
    if (w < -1 || w > 1)
      throw std::invalid_argument(std::string(where) + ": codes(" + std::to_string(i) + ", " + std::to_string(j) +
                                  ") = " + std::to_string(w) + " is not ternary");
    return w;
  }

  /// The byte at position p (0 .. padded_k - 1) of row i, in a layout of 64-byte blocks of
  /// `block_weights` weights whose byte j holds positions j, j + 64, j + 128, ...
  std::uint8_t byte_at(index i, index p, index block_weights) const {
    constexpr index bb = k_layout::block_bytes;
    return bytes_[static_cast<std::size_t>(i * row_bytes_ + p / block_weights * bb + p % bb)];
  }
  /// Writable packed bytes while packing (owned storage only).
  std::uint8_t* mutable_data() { return own_.data(); }

  index rows_ = 0;
  k_layout layout_;
  index row_bytes_ = 0;
  matrix<float> scales_;

 private:
  /// The layout (k_layout::make's bounds), the scales (shape, finiteness) and the size of the
  /// whole matrix (rows * row_bytes must not overflow).
  void init(std::string_view where, index k, index group, index block_weights, const matrix<float>& scales) {
    const k_layout l = k_layout::make(k, group, block_weights);
    if (scales.rows() != 1) tern::detail::check_shape(where, "scales", scales, rows_, l.groups);
    tern::detail::check_shape(where, "scales", scales, -1, l.groups);
    for (index i = 0; i < scales.rows(); ++i)
      for (index g = 0; g < scales.cols(); ++g)
        if (!std::isfinite(scales(i, g)))
          throw std::invalid_argument(std::string(where) + ": scales(" + std::to_string(i) + ", " + std::to_string(g) +
                                      ") = " + std::to_string(scales(i, g)) + " is not finite");
    index total = 0;
    if (__builtin_mul_overflow(rows_, l.row_bytes(), &total))
      throw std::length_error(std::string(where) + ": " + std::to_string(rows_) + " rows of " +
                              std::to_string(l.row_bytes()) + " packed bytes overflow");
    layout_ = l;
    scales_ = scales;
    row_bytes_ = l.row_bytes();
  }
  void swap(packed_rows& o) noexcept {
    std::swap(rows_, o.rows_);
    std::swap(layout_, o.layout_);
    std::swap(row_bytes_, o.row_bytes_);
    scales_.swap(o.scales_);
    std::swap(own_, o.own_);
    std::swap(keep_alive_, o.keep_alive_);
    std::swap(bytes_, o.bytes_);
  }

  aligned_buffer<std::uint8_t> own_;
  std::shared_ptr<const std::uint8_t> keep_alive_;  // set when the bytes are borrowed
  const std::uint8_t* bytes_ = nullptr;
};

}  // namespace detail

/// Ternary weights, M x K, 2 bits each (see the file comment for the byte layout).
class packed_ternary : public detail::packed_rows<packed_ternary> {
 public:
  static constexpr std::string_view format = "tq2";
  /// Codes per byte, and weights per 64-byte block.
  static constexpr int slices = 4;
  static constexpr index block_weights = slices * k_layout::block_bytes;

  packed_ternary() = default;

  /// Packs `codes` (M x K, values in {-1, 0, 1}) with dequantization scales `scales`
  /// (1 x groups or M x groups, groups = ceil(K / group)); group <= 0 or >= K: one group.
  packed_ternary(const matrix<std::int8_t>& codes, const matrix<float>& scales, index group)
      : packed_rows(where, codes, scales, group, block_weights) {
    std::memset(mutable_data(), 0x55, bytes());  // every code 1: w = 0 in the padding
    for (index i = 0; i < rows_; ++i) {
      std::uint8_t* r = mutable_data() + i * row_bytes_;
      for (index j = 0; j < layout_.k; ++j) {
        const int w = ternary_code(where, codes, i, j);
        const index p = layout_.position(j);
        std::uint8_t& byte = r[p / block_weights * k_layout::block_bytes + p % k_layout::block_bytes];
        const int shift = 2 * static_cast<int>(p % block_weights / k_layout::block_bytes);
        byte = static_cast<std::uint8_t>((byte & ~(3 << shift)) | ((w + 1) << shift));
      }
    }
  }

  /// Packs a tern::quantized<float> holding ternary codes (absmean_ternary::quantize output).
  explicit packed_ternary(const quantized<float>& q) : packed_ternary(q.codes, q.scales, q.group) {}

  /// Borrows `rows` rows of bytes already in this format (e.g. from a memory-mapped file):
  /// bytes.get() must be 64-byte aligned and hold `size` >= rows * layout.row_bytes() bytes,
  /// where layout is k_layout::make(k, group, block_weights); `bytes` keeps them alive. Every
  /// 2-bit field must hold 0, 1 or 2: the bytes are scanned once (one read of the matrix) and a
  /// field holding 3 throws std::invalid_argument naming its row and byte, so a borrowed matrix
  /// is as valid as a packed one.
  static packed_ternary from_bytes(std::shared_ptr<const std::uint8_t> bytes, std::size_t size, index rows, index k,
                                   index group, const matrix<float>& scales) {
    return packed_ternary(std::move(bytes), size, rows, k, group, scales);
  }
  /// The same where the caller vouches for the size of the buffer (it is not checked).
  static packed_ternary from_bytes(std::shared_ptr<const std::uint8_t> bytes, index rows, index k, index group,
                                   const matrix<float>& scales) {
    return packed_ternary(std::move(bytes), std::numeric_limits<std::size_t>::max(), rows, k, group, scales);
  }

  /// True when no 2-bit field holds the unused code 3 (w = 2). Always true for a matrix that
  /// exists (packing writes valid codes, from_bytes checks them).
  bool valid_codes() const { return first_invalid_byte() == bytes(); }

  /// The index of the first byte with a 2-bit field holding 3, or bytes() if none.
  std::size_t first_invalid_byte() const {
    const std::uint8_t* p = data();
    std::size_t b = 0;
    for (; b + 8 <= bytes(); b += 8) {  // eight bytes at a time, bit pairs (hi, lo) both set
      std::uint64_t v;
      std::memcpy(&v, p + b, 8);
      if (v & (v >> 1) & 0x5555555555555555ull) break;
    }
    for (; b < bytes(); ++b)
      if (p[b] & (p[b] >> 1) & 0x55) return b;
    return bytes();
  }

  /// The ternary weight w(i, j) in {-1, 0, 1}, decoded from the packed bytes.
  std::int8_t code(index i, index j) const {
    const index p = layout_.position(j);
    const int shift = 2 * static_cast<int>(p % block_weights / k_layout::block_bytes);
    return static_cast<std::int8_t>(((byte_at(i, p, block_weights) >> shift) & 3) - 1);
  }

 private:
  packed_ternary(std::shared_ptr<const std::uint8_t> bytes, std::size_t size, index rows, index k, index group,
                 const matrix<float>& scales)
      : packed_rows(where, std::move(bytes), size, rows, k, group, scales, block_weights) {
    const std::size_t bad = first_invalid_byte();
    if (bad != this->bytes())
      throw std::invalid_argument(std::string(where) + "::from_bytes: byte " +
                                  std::to_string(bad % static_cast<std::size_t>(row_bytes_)) + " of row " +
                                  std::to_string(bad / static_cast<std::size_t>(row_bytes_)) + " = " +
                                  std::to_string(int(data()[bad])) + " holds the 2-bit code 3, which is not ternary");
  }
  static constexpr std::string_view where = "tern::kernels::packed_ternary";
};

}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels
