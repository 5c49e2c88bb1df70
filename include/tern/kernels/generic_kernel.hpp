#pragma once
// Portable micro-kernel (tag `generic`), written with xsimd for xsimd::default_arch, so it
// compiles and is tested on every machine. Specification: kernels/reference.hpp.
//
// dot_tile<R, C>(tag, w, x, nblocks, out): for R weight rows w[r] and C activation columns x[c]
// (both pointing at the start of one group in the padded layout, nblocks blocks of 256),
//   out[r * C + c] = sum_p code_r(p) * x_c(p),   code = w + 1 in {0, 1, 2}   (int32, exact)
// The caller subtracts sum_p x_c(p) (quantized_activations::sums): the offset correction.
//
// xsimd 8 has no int8 multiply-add, so this path works in 16-bit lanes: a 16-bit load holds an
// even byte (low) and an odd byte (high). Even activations are (v << 8) >> 8, odd ones v >> 8
// (arithmetic shifts sign-extend); even codes are (w >> 2s) & 3, odd ones (w >> (8 + 2s)) & 3.
// Products are at most 2 * 128 = 256 in magnitude; one block adds at most 4 slices x
// (64 / vector bytes) loads x 2 products per 16-bit lane, <= 8192, so the int16 partial sums
// never overflow before they are widened to int32 (the same even/odd split) after every block.
#include <cstddef>
#include <cstdint>
#include <xsimd/xsimd.hpp>

#include "tern/core/matrix.hpp"
#include "tern/kernels/arch.hpp"

namespace tern::kernels {
inline namespace TERN_KERNELS_ABI {

namespace detail {
/// Sum of the lanes of an xsimd batch, through memory (xsimd::hadd on AVX-512 trips GCC 12's
/// -Wuninitialized): the end of every xsimd tile, tq2 and tq1.
template <class B>
typename B::value_type lane_sum(const B& v) {
  alignas(64) typename B::value_type lanes[B::size];
  v.store_aligned(lanes);
  typename B::value_type sum = 0;
  for (std::size_t l = 0; l < B::size; ++l) sum += lanes[l];
  return sum;
}
}  // namespace detail

template <int R, int C>
inline void dot_tile(generic, const std::uint8_t* const* w, const std::int8_t* const* x, index nblocks,
                     std::int32_t* out) {
  using A = xsimd::default_arch;
  using b16 = xsimd::batch<std::int16_t, A>;
  using b32 = xsimd::batch<std::int32_t, A>;
  constexpr int vbytes = static_cast<int>(b16::size) * 2;
  static_assert(64 % vbytes == 0, "vector width must divide the 64-byte block");
  b32 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = b32(0);
  const b16 mask(3);
  for (index b = 0; b < nblocks; ++b) {
    b16 part[R][C];
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) part[r][c] = b16(0);
    for (int v = 0; v < 64; v += vbytes) {
      b16 wv[R];
      for (int r = 0; r < R; ++r)
        wv[r] = b16::load_unaligned(reinterpret_cast<const std::int16_t*>(w[r] + b * 64 + v));
      for (int s = 0; s < 4; ++s) {
        for (int c = 0; c < C; ++c) {
          const b16 xv = b16::load_unaligned(reinterpret_cast<const std::int16_t*>(x[c] + b * 256 + 64 * s + v));
          const b16 xe = (xv << 8) >> 8, xo = xv >> 8;
          for (int r = 0; r < R; ++r) {
            const b16 ce = (wv[r] >> (2 * s)) & mask, co = (wv[r] >> (8 + 2 * s)) & mask;
            part[r][c] += ce * xe + co * xo;
          }
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
    for (int c = 0; c < C; ++c) out[r * C + c] = detail::lane_sum(acc[r][c]);
}

}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels
