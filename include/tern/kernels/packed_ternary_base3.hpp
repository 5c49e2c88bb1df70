#pragma once
// The sub-2-bit packed ternary format ("tq1"): 5 weights per byte in base 3, 1.6 bits/weight.
//
// Same K layout as packed_ternary (k_layout: groups padded to whole blocks), with blocks of
// 320 weights = 64 bytes:
//   byte j (0..63) holds the weights at block positions j + 64 t, t = 0..4 (the "trit" t), as
//   codes c_t = w + 1 in {0, 1, 2}; v = sum_t c_t 3^(4 - t) (t = 0 is the most significant), and
//   the byte stores q = ceil(v * 256 / 243) (0..255), TQ1_0's scaling.
//   Decoding, specification (code()): v = floor(q * 243 / 256), c_t = floor(v / 3^(4-t)) mod 3.
//   Decoding, kernels: m_0 = q, m_{t+1} = 3 m_t mod 256 (two byte adds), c_t = floor(3 m_t / 256)
//   = [m_t >= 86] + [m_t >= 171]: q / 256 is v / 243 rounded up by less than 1/243, so the
//   "ternary point" shifts one trit per multiplication by 3 and the top trit is read off.
//   (Both decodings agree for every byte value: tested exhaustively.)
//   As in tq2, the 64 codes of trit t over 64 consecutive bytes line up with 64 consecutive
//   activations (positions 64 t .. 64 t + 63 of the block).
// Scales: as packed_ternary.
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tern/core/matrix.hpp"
#include "tern/core/shape_error.hpp"
#include "tern/kernels/packed_ternary.hpp"
#include "tern/quant/quantized.hpp"

namespace tern::kernels {
inline namespace TERN_KERNELS_ABI {

/// Ternary weights, M x K, 1.6 bits each (see the file comment for the byte layout).
class packed_ternary_base3 : public detail::packed_rows<packed_ternary_base3> {
 public:
  static constexpr std::string_view format = "tq1";
  /// Trits per byte, and weights per 64-byte block.
  static constexpr int trits = 5;
  static constexpr index block_weights = trits * k_layout::block_bytes;

  /// The stored byte for five codes c[0..4] in {0, 1, 2} (c[0] most significant).
  static constexpr std::uint8_t encode(const int* c) {
    const int v = (((c[0] * 3 + c[1]) * 3 + c[2]) * 3 + c[3]) * 3 + c[4];
    return static_cast<std::uint8_t>((v * 256 + 242) / 243);
  }
  /// Code c_t in {0, 1, 2} of byte q, by exact integer arithmetic (the specification).
  static constexpr int decode(std::uint8_t q, int t) {
    int v = (int(q) * 243) >> 8;
    for (int i = t; i < 4; ++i) v /= 3;
    return v % 3;
  }

  packed_ternary_base3() = default;

  /// Packs `codes` (M x K in {-1, 0, 1}) with `scales` (1 x groups or M x groups).
  packed_ternary_base3(const matrix<std::int8_t>& codes, const matrix<float>& scales, index group)
      : packed_rows(where, codes, scales, group, block_weights) {
    for (index i = 0; i < rows_; ++i) {
      std::vector<std::int8_t> padded(static_cast<std::size_t>(layout_.padded_k()), 0);
      for (index j = 0; j < layout_.k; ++j)
        padded[static_cast<std::size_t>(layout_.position(j))] = static_cast<std::int8_t>(ternary_code(where, codes, i, j));
      std::uint8_t* r = mutable_data() + i * row_bytes_;
      constexpr index bb = k_layout::block_bytes;
      for (index b = 0; b < layout_.padded_k() / block_weights; ++b)
        for (index j = 0; j < bb; ++j) {
          int c[trits];
          for (int t = 0; t < trits; ++t) c[t] = padded[static_cast<std::size_t>(b * block_weights + bb * t + j)] + 1;
          r[b * bb + j] = encode(c);
        }
    }
  }

  explicit packed_ternary_base3(const quantized<float>& q) : packed_ternary_base3(q.codes, q.scales, q.group) {}

  /// Borrows bytes already in this format (see packed_ternary::from_bytes): `size` bytes at
  /// bytes.get(), at least rows * row_bytes(). Every byte value decodes to five valid trits (and
  /// the kernels' decoding agrees with code() on all 256 values: tested), so there is no invalid
  /// code to check.
  static packed_ternary_base3 from_bytes(std::shared_ptr<const std::uint8_t> bytes, std::size_t size, index rows,
                                         index k, index group, const matrix<float>& scales) {
    return packed_ternary_base3(std::move(bytes), size, rows, k, group, scales);
  }
  /// The same where the caller vouches for the size of the buffer (it is not checked).
  static packed_ternary_base3 from_bytes(std::shared_ptr<const std::uint8_t> bytes, index rows, index k, index group,
                                         const matrix<float>& scales) {
    return packed_ternary_base3(std::move(bytes), std::numeric_limits<std::size_t>::max(), rows, k, group, scales);
  }

  /// The ternary weight w(i, j), decoded by the specification's integer arithmetic.
  std::int8_t code(index i, index j) const {
    const index p = layout_.position(j);
    const int t = static_cast<int>(p % block_weights / k_layout::block_bytes);
    return static_cast<std::int8_t>(decode(byte_at(i, p, block_weights), t) - 1);
  }

 private:
  packed_ternary_base3(std::shared_ptr<const std::uint8_t> bytes, std::size_t size, index rows, index k, index group,
                       const matrix<float>& scales)
      : packed_rows(where, std::move(bytes), size, rows, k, group, scales, block_weights) {}
  static constexpr std::string_view where = "tern::kernels::packed_ternary_base3";
};

}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels
