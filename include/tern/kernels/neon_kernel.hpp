#pragma once
// AArch64 NEON micro-kernels (tags `neon`, `neon_dotprod`) for the 2-bit format (tq2).
// Specification: kernels/reference.hpp; contract of dot_tile: kernels/generic_kernel.hpp.
// tq1 (packed_ternary_base3): its NEON kernels are the dot_tile_b3 overloads in base3_kernel.hpp.
//
// Per 16 packed bytes and slice s: codes u = (w >> 2s) & 3 in {0, 1, 2}, as int8 lanes, line up
// with the 16 activations at block positions 64s + h .. 64s + h + 15 (packed_ternary.hpp).
//  - neon (ARMv8.0 baseline): smull / smlal2 (vmlal_s8, vmlal_high_s8) multiply int8 pairs into
//    int16 lanes, |u x| <= 2 * 128 = 256; one block adds 4 slices x 4 loads x 2 halves = 32
//    products per int16 lane, <= 8192 in magnitude, so no int16 overflow; sadalp (vpadalq_s16)
//    widens the int16 partial sums into int32 after every block.
//  - neon_dotprod (ARMv8.2 DotProd): sdot (vdotq_s32) adds 4 int8 x int8 products straight into
//    each int32 lane: no intermediate width at all.
// neon is always present on AArch64. neon_dotprod is compiled with a function-level target
// attribute (like the x86 paths), so it exists in every AArch64 build; it runs when the
// translation unit targets DotProd (best_arch) or when cpu_supports(path::neon_dotprod) says so
// (Linux HWCAP_ASIMDDP).
#include <cstdint>

#include "tern/core/matrix.hpp"
#include "tern/kernels/arch.hpp"

#if TERN_KERNELS_NEON
#include <arm_neon.h>

#if defined(__ARM_FEATURE_DOTPROD)
#define TERN_NEON_DOTPROD_TARGET
#else
#define TERN_NEON_DOTPROD_TARGET __attribute__((target("arch=armv8.2-a+dotprod")))
#endif

namespace tern::kernels {
inline namespace TERN_KERNELS_ABI {

namespace detail {
/// The four 2-bit code slices of 16 packed bytes, as int8 lanes in {0, 1, 2}.
inline void neon_unpack(uint8x16_t wv, int8x16_t (&u)[4]) {
  const uint8x16_t m3 = vdupq_n_u8(3);
  u[0] = vreinterpretq_s8_u8(vandq_u8(wv, m3));
  u[1] = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(wv, 2), m3));
  u[2] = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(wv, 4), m3));
  u[3] = vreinterpretq_s8_u8(vshrq_n_u8(wv, 6));
}
}  // namespace detail

template <int R, int C>
inline void dot_tile(neon, const std::uint8_t* const* w, const std::int8_t* const* x, index nblocks,
                     std::int32_t* out) {
  int32x4_t acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = vdupq_n_s32(0);
  for (index b = 0; b < nblocks; ++b) {
    int16x8_t part[R][C];
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) part[r][c] = vdupq_n_s16(0);
    for (int h = 0; h < 64; h += 16) {
      int8x16_t u[R][4];
      for (int r = 0; r < R; ++r) detail::neon_unpack(vld1q_u8(w[r] + b * 64 + h), u[r]);
      for (int s = 0; s < 4; ++s)
        for (int c = 0; c < C; ++c) {
          const int8x16_t xv = vld1q_s8(x[c] + b * 256 + 64 * s + h);
          for (int r = 0; r < R; ++r) {
            part[r][c] = vmlal_s8(part[r][c], vget_low_s8(u[r][s]), vget_low_s8(xv));
            part[r][c] = vmlal_high_s8(part[r][c], u[r][s], xv);
          }
        }
    }
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) acc[r][c] = vpadalq_s16(acc[r][c], part[r][c]);
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) out[r * C + c] = vaddvq_s32(acc[r][c]);
}

template <int R, int C>
TERN_NEON_DOTPROD_TARGET inline void dot_tile(neon_dotprod, const std::uint8_t* const* w,
                                              const std::int8_t* const* x, index nblocks, std::int32_t* out) {
  int32x4_t acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = vdupq_n_s32(0);
  for (index b = 0; b < nblocks; ++b)
    for (int h = 0; h < 64; h += 16) {
      int8x16_t u[R][4];
      for (int r = 0; r < R; ++r) detail::neon_unpack(vld1q_u8(w[r] + b * 64 + h), u[r]);
      for (int s = 0; s < 4; ++s)
        for (int c = 0; c < C; ++c) {
          const int8x16_t xv = vld1q_s8(x[c] + b * 256 + 64 * s + h);
          for (int r = 0; r < R; ++r) acc[r][c] = vdotq_s32(acc[r][c], u[r][s], xv);
        }
    }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) out[r * C + c] = vaddvq_s32(acc[r][c]);
}

}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels

#undef TERN_NEON_DOTPROD_TARGET

#endif  // TERN_KERNELS_NEON
