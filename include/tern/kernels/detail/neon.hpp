#pragma once
// AArch64 NEON micro-kernels (tags `neon`, `neon_dotprod`), every format. Specification:
// kernels/reference.hpp; contract: kernels/detail/common.hpp.
//
// Per 16 packed bytes and slice t, int8 codes from the format's decoder line up with the 16
// activations at block positions 64 t + h .. 64 t + h + 15.
//  - neon (ARMv8.0 baseline): smull / smlal2 (vmlal_s8, vmlal_high_s8) multiply int8 pairs into
//    int16 lanes, |u x| <= 2 * 128 = 256; one block adds slices x 4 loads x 2 halves <= 40
//    products per int16 lane, <= 10240 in magnitude, so no int16 overflow; sadalp (vpadalq_s16)
//    widens the int16 partial sums into int32 after every block.
//  - neon_dotprod (ARMv8.2 DotProd): sdot (vdotq_s32) adds 4 int8 x int8 products straight into
//    each int32 lane.
// Decoders:
//   tq2: u = (w >> 2t) & 3 (a variable shift, vshlq_u8 by -2t).
//   tq1: vcgeq_u8 gives -1 / 0 masks, so their sum is -c (one add) and vmulq_u8 by 3 steps m:
//        4 ops; the sums of -c x are negated at the end (sign = -1; exact: the true sum fits).
// neon is always present on AArch64. neon_dotprod is compiled with a function-level target
// attribute (like the x86 paths), so it exists in every AArch64 build; it runs when the
// translation unit targets DotProd (best_arch) or when cpu_supports(path::neon_dotprod) says so
// (Linux HWCAP_ASIMDDP).
#include "tern/kernels/detail/common.hpp"

#include <cstdint>

#include "tern/core/matrix.hpp"
#include "tern/kernels/packed_ternary.hpp"
#include "tern/kernels/packed_ternary_base3.hpp"

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
namespace neon_isa {
inline constexpr int vector_bytes = 16;

template <class W>
struct decoder;

template <>
struct decoder<packed_ternary> {
  static constexpr int slices = 4, sign = 1;
  using state = uint8x16_t;
  static state load(const std::uint8_t* p) { return vld1q_u8(p); }
  static int8x16_t slice(const state& w, int t) {
    return vreinterpretq_s8_u8(vandq_u8(vshlq_u8(w, vdupq_n_s8(static_cast<std::int8_t>(-2 * t))), vdupq_n_u8(3)));
  }
};

template <>
struct decoder<packed_ternary_base3> {
  static constexpr int slices = 5, sign = -1;
  using state = uint8x16_t;  // m_t
  static state load(const std::uint8_t* p) { return vld1q_u8(p); }
  /// -c_t as int8 lanes in {0, -1, -2} (each vcgeq_u8 mask is 0 or -1), and m <- 3 m mod 256.
  static int8x16_t slice(state& m, int) {
    const int8x16_t n = vreinterpretq_s8_u8(vaddq_u8(vcgeq_u8(m, vdupq_n_u8(86)), vcgeq_u8(m, vdupq_n_u8(171))));
    m = vmulq_u8(m, vdupq_n_u8(3));
    return n;
  }
};
}  // namespace neon_isa

/// The NEON tile loop, every format.
template <int R, int C, class T, class W>
inline void dot_tile(neon, format_tag<W>, const std::uint8_t* const* w, const std::int8_t* const* x, index nblocks,
                     std::int32_t* out) {
  using namespace neon_isa;
  using D = decoder<W>;
  constexpr index bw = W::block_weights, bb = k_layout::block_bytes;
  static_assert(D::slices * (bb / vector_bytes) * 2 * 256 <= 32767, "int16 partial sums of one block must not overflow");
  int32x4_t acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = vdupq_n_s32(0);
  for (index b = 0; b < nblocks; ++b) {
    int16x8_t part[R][C];
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) part[r][c] = vdupq_n_s16(0);
    for (int h = 0; h < bb; h += vector_bytes) {
      typename D::state st[R];
      for (int r = 0; r < R; ++r) st[r] = D::load(w[r] + b * bb + h);
      for (int t = 0; t < D::slices; ++t) {
        int8x16_t u[R];
        for (int r = 0; r < R; ++r) u[r] = D::slice(st[r], t);
        for (int c = 0; c < C; ++c) {
          const int8x16_t xv = vld1q_s8(x[c] + b * bw + bb * t + h);
          for (int r = 0; r < R; ++r) {
            part[r][c] = vmlal_s8(part[r][c], vget_low_s8(u[r]), vget_low_s8(xv));
            part[r][c] = vmlal_high_s8(part[r][c], u[r], xv);
          }
        }
      }
    }
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) acc[r][c] = vpadalq_s16(acc[r][c], part[r][c]);
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) out[r * C + c] = D::sign * vaddvq_s32(acc[r][c]);
}

/// The NEON DotProd tile loop, every format.
template <int R, int C, class T, class W>
TERN_NEON_DOTPROD_TARGET inline void dot_tile(neon_dotprod, format_tag<W>, const std::uint8_t* const* w,
                                              const std::int8_t* const* x, index nblocks, std::int32_t* out) {
  using namespace neon_isa;
  using D = decoder<W>;
  constexpr index bw = W::block_weights, bb = k_layout::block_bytes;
  int32x4_t acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = vdupq_n_s32(0);
  for (index b = 0; b < nblocks; ++b)
    for (int h = 0; h < bb; h += vector_bytes) {
      typename D::state st[R];
      for (int r = 0; r < R; ++r) st[r] = D::load(w[r] + b * bb + h);
      for (int t = 0; t < D::slices; ++t) {
        int8x16_t u[R];
        for (int r = 0; r < R; ++r) u[r] = D::slice(st[r], t);
        for (int c = 0; c < C; ++c) {
          const int8x16_t xv = vld1q_s8(x[c] + b * bw + bb * t + h);
          for (int r = 0; r < R; ++r) acc[r][c] = vdotq_s32(acc[r][c], u[r], xv);
        }
      }
    }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) out[r * C + c] = D::sign * vaddvq_s32(acc[r][c]);
}

}  // namespace detail
}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels

#undef TERN_NEON_DOTPROD_TARGET

#endif  // TERN_KERNELS_NEON
