#pragma once
// Portable micro-kernels (tag `generic`), written with xsimd for xsimd::default_arch, so they
// compile and are tested on every machine. Specification: kernels/reference.hpp; contract:
// kernels/detail/common.hpp.
//
// xsimd 8 has no int8 multiply-add, so this path works in 16-bit lanes: a 16-bit load holds an
// even byte (low) and an odd byte (high). Even activations are (v << 8) >> 8, odd ones v >> 8
// (arithmetic shifts sign-extend); the decoders give the even and odd codes of each slice.
// Products are at most 2 * 128 = 256 in magnitude, two per lane and multiply-add; one block
// adds slices x (64 / vector bytes) multiply-adds per 16-bit lane, <= 5 x 4 x 512 = 10240 for
// vectors of at least 16 bytes (static_assert), so the int16 partial sums never overflow before
// they are widened to int32 (the same even/odd split) after every block.
//
// Decoders:
//   tq2: even codes (w >> 2t) & 3, odd codes (w >> (8 + 2t)) & 3.
//   tq1: the even and odd bytes are split once per load, e = v & 0xff, o = (v >> 8) & 0xff; per
//        slice p = 3 m (one int16 multiply, 3 m <= 765) gives c = p >> 8 and the next m = p & 0xff
//        (packed_ternary_base3.hpp: c_t = floor(3 m_t / 256), m_{t+1} = 3 m_t mod 256).
#include "tern/kernels/detail/common.hpp"

#include <cstddef>
#include <cstdint>
#include <xsimd/xsimd.hpp>

#include "tern/core/matrix.hpp"
#include "tern/kernels/packed_ternary.hpp"
#include "tern/kernels/packed_ternary_base3.hpp"

namespace tern::kernels {
inline namespace TERN_KERNELS_ABI {
namespace detail {

/// Sum of the lanes of an xsimd batch, through memory (xsimd::hadd on AVX-512 trips GCC 12's
/// -Wuninitialized): the end of every xsimd tile.
template <class B>
typename B::value_type lane_sum(const B& v) {
  alignas(64) typename B::value_type lanes[B::size];
  v.store_aligned(lanes);
  typename B::value_type sum = 0;
  for (std::size_t l = 0; l < B::size; ++l) sum += lanes[l];
  return sum;
}

namespace generic_isa {
using b16 = xsimd::batch<std::int16_t, xsimd::default_arch>;
using b32 = xsimd::batch<std::int32_t, xsimd::default_arch>;
inline constexpr int vector_bytes = static_cast<int>(b16::size) * 2;
static_assert(k_layout::block_bytes % vector_bytes == 0, "the vector width must divide the 64-byte block");
static_assert(vector_bytes >= 16, "the int16 bound (file comment) assumes at most 4 loads per slice and block");

/// Codes of one slice: even and odd bytes of each 16-bit lane.
struct codes {
  b16 even, odd;
};

inline const std::int16_t* lanes(const void* p) { return static_cast<const std::int16_t*>(p); }

template <class W>
struct decoder;

template <>
struct decoder<packed_ternary> {
  static constexpr int slices = 4, sign = 1;
  using state = b16;
  static state load(const std::uint8_t* p) { return b16::load_unaligned(lanes(p)); }
  static codes slice(const state& w, int t) { return {(w >> (2 * t)) & b16(3), (w >> (8 + 2 * t)) & b16(3)}; }
};

template <>
struct decoder<packed_ternary_base3> {
  static constexpr int slices = 5, sign = 1;
  struct state {
    b16 even, odd;  // m_t of the even and odd bytes, 0..255
  };
  static state load(const std::uint8_t* p) {
    const b16 v = b16::load_unaligned(lanes(p));
    return {v & b16(0xff), (v >> 8) & b16(0xff)};
  }
  static codes slice(state& m, int) {
    const b16 pe = m.even * b16(3), po = m.odd * b16(3);  // c_t in bits 8-9, m_{t+1} in bits 0-7
    m.even = pe & b16(0xff);
    m.odd = po & b16(0xff);
    return {pe >> 8, po >> 8};
  }
};
}  // namespace generic_isa

/// The portable tile loop, every format (its decoder supplies the codes).
template <int R, int C, class T, class W>
inline void dot_tile(generic, format_tag<W>, const std::uint8_t* const* w, const std::int8_t* const* x,
                     index nblocks, std::int32_t* out) {
  using namespace generic_isa;
  using D = decoder<W>;
  constexpr index bw = W::block_weights, bb = k_layout::block_bytes;
  b32 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = b32(0);
  for (index b = 0; b < nblocks; ++b) {
    b16 part[R][C];
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) part[r][c] = b16(0);
    for (int v = 0; v < bb; v += vector_bytes) {
      typename D::state st[R];
      for (int r = 0; r < R; ++r) st[r] = D::load(w[r] + b * bb + v);
      for (int t = 0; t < D::slices; ++t) {
        codes u[R];
        for (int r = 0; r < R; ++r) u[r] = D::slice(st[r], t);
        for (int c = 0; c < C; ++c) {
          const b16 xv = b16::load_unaligned(lanes(x[c] + b * bw + bb * t + v));
          const b16 xe = (xv << 8) >> 8, xo = xv >> 8;
          for (int r = 0; r < R; ++r) part[r][c] += u[r].even * xe + u[r].odd * xo;
        }
      }
    }
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) {
        const b32 t = xsimd::bitwise_cast<b32>(part[r][c]);
        acc[r][c] += ((t << 16) >> 16) + (t >> 16);
      }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) out[r * C + c] = D::sign * lane_sum(acc[r][c]);
}

}  // namespace detail
}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels
