#pragma once
// Micro-kernels of the base-3 format (packed_ternary_base3, "tq1"), one dot_tile_b3 overload per
// path. Specification: kernels/reference.hpp with packed_ternary_base3::code(); contract as
// dot_tile in generic_kernel.hpp (out = sum of codes c = w + 1 times x; the caller subtracts the
// activation sums), with 320-weight blocks (64 bytes, 5 trits per byte; trit t of byte j pairs
// with activation 64 t + j of the block).
//
// Decoding (every path): m_0 = byte, c_t = [m_t >= 86] + [m_t >= 171] = floor(3 m_t / 256),
// m_{t+1} = 3 m_t mod 256 (packed_ternary_base3.hpp). Decode ops below are per vector of bytes,
// per trit and per weight row; they are shared by the C tokens of a GEMM tile.
// generic:     xsimd, 16-bit lanes (no int8 multiply-add in xsimd 8): the even and odd bytes of
//              a 16-bit load are split once per load into e = v & 0xff and o = (v >> 8) & 0xff;
//              per trit and half, p = 3 m (one multiply) gives c = p >> 8 and the next
//              m = p & 0xff (3 m <= 765 fits): 6 ops, no compares. Products c x as in the tq2
//              generic kernel: |c x| <= 2 * 128 = 256; one block adds 5 trits x (64 / vector
//              bytes) loads x 2 products per 16-bit lane, <= 40 x 256 = 10240 for vectors of at
//              least 16 bytes (static_assert), so the int16 partials never overflow before they
//              are widened to int32 after every block.
// avx2:        bytes biased by 0x80 (s = m ^ 0x80 = m + 128 mod 256) follow the same recurrence,
//              since 3 s = 3 m + 384 = 3 m + 128 (mod 256); so unsigned m > 85 and m > 170 are the
//              signed compares s > -43 and s > 42 (AVX2 has no unsigned byte compare). Per trit:
//              s + s + s (2 adds), 2 vpcmpgtb giving -1 / 0, c = |g1 + g2| (add, vpabsb): 6 ops.
//              Then vpmaddubsw(c, x) (u8 x s8 pairs, |.| <= 2 * 2 * 128 = 512, no saturation);
//              the 10 of one block (2 halves x 5 trits) sum to <= 5120 in int16, then vpmaddwd
//              with ones widens to int32 once per block.
// avx512bw:    as avx512vnni's decode (unsigned compares to k-masks, zero-masked and
//              merge-masked moves build 0 / 1 / 2: 6 ops), then vpmaddubsw / vpmaddwd as avx2;
//              the 5 vpmaddubsw of a block sum to <= 2560 in int16.
// avx512vnni:  the same decode, then vpdpbusd as in tq2 (GEMM tiles, C > 1).
//              GEMV (C = 1), "product decode" (detail::dot_rows_b3_vnni): no codes are formed.
//              Per byte, 3 m_t = 256 c_t + m_{t+1} exactly (m_{t+1} = 3 m_t mod 256), so
//              256 sum_t c_t x_t = 3 sum_t m_t x_t - sum_t m_{t+1} x_t: two vpdpbusd per trit
//              feed A += m_t . x_t and B += m_{t+1} . x_t with the states themselves as the
//              unsigned operand (0..255, no saturation in vpdpbusd), and the recurrence's two
//              byte adds are the whole decode: 4 ops per trit instead of 7. Per int32 lane,
//              3 A - B = 256 S (S the lane's sum of c x) holds modulo 2^32, hence exactly while
//              |256 S| < 2^31: a lane's S grows by at most 20 x 2 x 128 = 5120 per block, so
//              (3 A - B) >> 8 (arithmetic, exact) is folded into the total every 1024 blocks
//              (256 x 5120 x 1024 = 5 x 2^28 < 2^31) and any K is exact.
// neon:        vcgeq_u8 gives 0xFF = -1 masks, so n = g1 + g2 = -c (one add) and m * 3 is one
//              vmulq_u8: 4 ops. smull / smlal2 accumulate n x in int16 (|n x| <= 256, 5 trits x
//              4 loads x 2 halves = 40 products per lane and block, <= 10240), sadalp widens per
//              block, and the sum is negated at the end (exact: the true sum fits in int32).
// neon_dotprod: the same n, sdot(n, x) straight into int32, negated at the end.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <xsimd/xsimd.hpp>

#include "tern/core/matrix.hpp"
#include "tern/kernels/arch.hpp"
#include "tern/kernels/avx2_kernel.hpp"
#include "tern/kernels/avx512_kernel.hpp"
#include "tern/kernels/generic_kernel.hpp"

#if TERN_KERNELS_X86
#include <immintrin.h>
#endif
#if TERN_KERNELS_NEON
#include <arm_neon.h>
#endif

namespace tern::kernels {
inline namespace TERN_KERNELS_ABI {

template <int R, int C>
inline void dot_tile_b3(generic, const std::uint8_t* const* w, const std::int8_t* const* x, index nblocks,
                        std::int32_t* out) {
  using A = xsimd::default_arch;
  using b16 = xsimd::batch<std::int16_t, A>;
  using b32 = xsimd::batch<std::int32_t, A>;
  constexpr int vbytes = static_cast<int>(b16::size) * 2;
  static_assert(64 % vbytes == 0, "vector width must divide the 64-byte block");
  static_assert(vbytes >= 16, "the int16 bound (file comment) assumes at most 4 loads per trit and block");
  b32 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = b32(0);
  const b16 low(0xff), three(3);
  for (index b = 0; b < nblocks; ++b) {
    b16 part[R][C];
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) part[r][c] = b16(0);
    for (int v = 0; v < 64; v += vbytes) {
      b16 me[R], mo[R];  // the even and odd bytes' m_t, in 0..255
      for (int r = 0; r < R; ++r) {
        const b16 wv = b16::load_unaligned(reinterpret_cast<const std::int16_t*>(w[r] + b * 64 + v));
        me[r] = wv & low;
        mo[r] = (wv >> 8) & low;
      }
      for (int t = 0; t < 5; ++t) {
        b16 ce[R], co[R];
        for (int r = 0; r < R; ++r) {
          const b16 pe = me[r] * three, po = mo[r] * three;  // c_t in bits 8-9, m_{t+1} in bits 0-7
          ce[r] = pe >> 8;
          co[r] = po >> 8;
          me[r] = pe & low;
          mo[r] = po & low;
        }
        for (int c = 0; c < C; ++c) {
          const b16 xv = b16::load_unaligned(reinterpret_cast<const std::int16_t*>(x[c] + b * 320 + 64 * t + v));
          const b16 xe = (xv << 8) >> 8, xo = xv >> 8;
          for (int r = 0; r < R; ++r) part[r][c] += ce[r] * xe + co[r] * xo;
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

#if TERN_KERNELS_X86
template <int R, int C>
__attribute__((target("avx2,fma"))) inline void dot_tile_b3(avx2, const std::uint8_t* const* w,
                                                            const std::int8_t* const* x, index nblocks,
                                                            std::int32_t* out) {
  __m256i acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_si256();
  const __m256i bias = _mm256_set1_epi8(char(0x80)), lo = _mm256_set1_epi8(-43), hi = _mm256_set1_epi8(42);
  const __m256i ones = _mm256_set1_epi16(1);
  for (index b = 0; b < nblocks; ++b) {
    if constexpr (C == 1)
      for (int r = 0; r < R; ++r) detail::prefetch_weights(w[r], b);
    __m256i part[R][C];
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) part[r][c] = _mm256_setzero_si256();
    for (int h = 0; h < 64; h += 32) {
      __m256i s[R];  // m_t ^ 0x80
      for (int r = 0; r < R; ++r)
        s[r] = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[r] + b * 64 + h)), bias);
      for (int t = 0; t < 5; ++t) {
        __m256i u[R];
        for (int r = 0; r < R; ++r) {
          u[r] = _mm256_abs_epi8(_mm256_add_epi8(_mm256_cmpgt_epi8(s[r], lo), _mm256_cmpgt_epi8(s[r], hi)));
          if (t < 4) s[r] = _mm256_add_epi8(s[r], _mm256_add_epi8(s[r], s[r]));
        }
        for (int c = 0; c < C; ++c) {
          const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[c] + b * 320 + 64 * t + h));
          for (int r = 0; r < R; ++r) part[r][c] = _mm256_add_epi16(part[r][c], _mm256_maddubs_epi16(u[r], xv));
        }
      }
    }
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) acc[r][c] = _mm256_add_epi32(acc[r][c], _mm256_madd_epi16(part[r][c], ones));
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) out[r * C + c] = detail::hsum(acc[r][c]);
}

template <int R, int C>
__attribute__((target("avx512f,avx512bw,avx512vl"))) inline void dot_tile_b3(avx512bw, const std::uint8_t* const* w,
                                                                              const std::int8_t* const* x,
                                                                              index nblocks, std::int32_t* out) {
  __m512i acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_si512();
  const __m512i one = _mm512_set1_epi8(1), two = _mm512_set1_epi8(2);
  const __m512i lo = _mm512_set1_epi8(85), hi = _mm512_set1_epi8(char(170)), ones = _mm512_set1_epi16(1);
  for (index b = 0; b < nblocks; ++b) {
    __m512i m[R], part[R][C];
    for (int r = 0; r < R; ++r) {
      if constexpr (C == 1) detail::prefetch_weights(w[r], b);
      m[r] = _mm512_loadu_si512(w[r] + b * 64);
      for (int c = 0; c < C; ++c) part[r][c] = _mm512_setzero_si512();
    }
    for (int t = 0; t < 5; ++t) {
      __m512i u[R];
      for (int r = 0; r < R; ++r) {
        const __mmask64 k1 = _mm512_cmpgt_epu8_mask(m[r], lo), k2 = _mm512_cmpgt_epu8_mask(m[r], hi);
        u[r] = _mm512_mask_mov_epi8(_mm512_maskz_mov_epi8(k1, one), k2, two);
        if (t < 4) m[r] = _mm512_add_epi8(m[r], _mm512_add_epi8(m[r], m[r]));
      }
      for (int c = 0; c < C; ++c) {
        const __m512i xv = _mm512_loadu_si512(x[c] + b * 320 + 64 * t);
        for (int r = 0; r < R; ++r) part[r][c] = _mm512_add_epi16(part[r][c], _mm512_maddubs_epi16(u[r], xv));
      }
    }
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) acc[r][c] = _mm512_add_epi32(acc[r][c], _mm512_madd_epi16(part[r][c], ones));
  }
  detail::store_tile_sums(acc, out);
}

namespace detail {
/// S = (3 a - s) >> 8 per lane: 3 a - s = 256 S holds modulo 2^32, exactly while |256 S| < 2^31
/// (the callers fold often enough, file comment), so the arithmetic shift is exact.
__attribute__((target("avx512f"))) inline __m512i b3_fold(__m512i a, __m512i s) {
  return _mm512_srai_epi32(_mm512_sub_epi32(_mm512_add_epi32(a, _mm512_add_epi32(a, a)), s), 8);
}

/// tq1 GEMV rows (dot_tile_b3 with C = 1) by the product decode (file comment, avx512vnni).
/// Always four rows (R < 4 repeats the last row and drops its sums), with named accumulators:
/// GCC 12 keeps an array of vectors in memory (see the avx512vnni tq2 GEMM tile). Four rows
/// give 8 independent vpdpbusd chains, enough to cover its latency.
template <int R>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) inline void dot_rows_b3_vnni(
    const std::uint8_t* const* w, const std::int8_t* x, index nblocks, std::int32_t* out) {
  static_assert(R >= 1 && R <= 4, "the product-decode GEMV takes at most 4 rows");
  constexpr index fold_blocks = 1024;
  const std::uint8_t* w0 = w[0];
  const std::uint8_t* w1 = w[std::min(1, R - 1)];
  const std::uint8_t* w2 = w[std::min(2, R - 1)];
  const std::uint8_t* w3 = w[std::min(3, R - 1)];
  __m512i t0 = _mm512_setzero_si512(), t1 = t0, t2 = t0, t3 = t0;
  for (index b0 = 0; b0 < nblocks; b0 += fold_blocks) {
    const index b1 = std::min(nblocks, b0 + fold_blocks);
    // a_r: sum of m_t . x_t; s_r: sum of m_{t+1} . x_t (row r)
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, s0 = a0, s1 = a0, s2 = a0, s3 = a0;
    for (index b = b0; b < b1; ++b) {
      prefetch_weights(w0, b);
      prefetch_weights(w1, b);
      prefetch_weights(w2, b);
      prefetch_weights(w3, b);
      __m512i m0 = _mm512_loadu_si512(w0 + b * 64), m1 = _mm512_loadu_si512(w1 + b * 64);
      __m512i m2 = _mm512_loadu_si512(w2 + b * 64), m3 = _mm512_loadu_si512(w3 + b * 64);
      for (int t = 0; t < 5; ++t) {
        const __m512i xv = _mm512_loadu_si512(x + b * 320 + 64 * t);
        dpbusd(a0, m0, xv);
        dpbusd(a1, m1, xv);
        dpbusd(a2, m2, xv);
        dpbusd(a3, m3, xv);
        m0 = _mm512_add_epi8(m0, _mm512_add_epi8(m0, m0));  // 3 m mod 256
        m1 = _mm512_add_epi8(m1, _mm512_add_epi8(m1, m1));
        m2 = _mm512_add_epi8(m2, _mm512_add_epi8(m2, m2));
        m3 = _mm512_add_epi8(m3, _mm512_add_epi8(m3, m3));
        dpbusd(s0, m0, xv);
        dpbusd(s1, m1, xv);
        dpbusd(s2, m2, xv);
        dpbusd(s3, m3, xv);
      }
    }
    t0 = _mm512_add_epi32(t0, b3_fold(a0, s0));
    t1 = _mm512_add_epi32(t1, b3_fold(a1, s1));
    t2 = _mm512_add_epi32(t2, b3_fold(a2, s2));
    t3 = _mm512_add_epi32(t3, b3_fold(a3, s3));
  }
  const __m512i tot[4] = {t0, t1, t2, t3};
  hsum_n(tot, R, out);
}
}  // namespace detail

template <int R, int C>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) inline void dot_tile_b3(
    avx512vnni, const std::uint8_t* const* w, const std::int8_t* const* x, index nblocks, std::int32_t* out) {
  if constexpr (C == 1) {
    detail::dot_rows_b3_vnni<R>(w, x[0], nblocks, out);
    return;
  }
  const __m512i one = _mm512_set1_epi8(1), two = _mm512_set1_epi8(2);
  const __m512i lo = _mm512_set1_epi8(85), hi = _mm512_set1_epi8(char(170));
  if constexpr (R == 2 && C == 8) {
    // The GEMM tile, with named accumulators (see the avx512vnni tq2 kernel).
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    __m512i b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0, b6 = a0, b7 = a0;
    for (index b = 0; b < nblocks; ++b) {
      __m512i m0 = _mm512_loadu_si512(w[0] + b * 64), m1 = _mm512_loadu_si512(w[1] + b * 64);
      for (int t = 0; t < 5; ++t) {
        const __m512i u0 = _mm512_mask_mov_epi8(_mm512_maskz_mov_epi8(_mm512_cmpgt_epu8_mask(m0, lo), one),
                                                _mm512_cmpgt_epu8_mask(m0, hi), two);
        const __m512i u1 = _mm512_mask_mov_epi8(_mm512_maskz_mov_epi8(_mm512_cmpgt_epu8_mask(m1, lo), one),
                                                _mm512_cmpgt_epu8_mask(m1, hi), two);
        m0 = _mm512_add_epi8(m0, _mm512_add_epi8(m0, m0));
        m1 = _mm512_add_epi8(m1, _mm512_add_epi8(m1, m1));
        const index off = b * 320 + 64 * t;
        detail::dpbusd2(a0, b0, u0, u1, _mm512_loadu_si512(x[0] + off));
        detail::dpbusd2(a1, b1, u0, u1, _mm512_loadu_si512(x[1] + off));
        detail::dpbusd2(a2, b2, u0, u1, _mm512_loadu_si512(x[2] + off));
        detail::dpbusd2(a3, b3, u0, u1, _mm512_loadu_si512(x[3] + off));
        detail::dpbusd2(a4, b4, u0, u1, _mm512_loadu_si512(x[4] + off));
        detail::dpbusd2(a5, b5, u0, u1, _mm512_loadu_si512(x[5] + off));
        detail::dpbusd2(a6, b6, u0, u1, _mm512_loadu_si512(x[6] + off));
        detail::dpbusd2(a7, b7, u0, u1, _mm512_loadu_si512(x[7] + off));
      }
    }
    const __m512i flat[16] = {a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3, b4, b5, b6, b7};
    detail::hsum16(flat, out);
    return;
  }
  __m512i acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_si512();
  for (index b = 0; b < nblocks; ++b) {
    __m512i m[R];
    for (int r = 0; r < R; ++r) {
      if constexpr (C == 1) detail::prefetch_weights(w[r], b);
      m[r] = _mm512_loadu_si512(w[r] + b * 64);
    }
    for (int t = 0; t < 5; ++t) {
      __m512i u[R];
      for (int r = 0; r < R; ++r) {
        const __mmask64 k1 = _mm512_cmpgt_epu8_mask(m[r], lo), k2 = _mm512_cmpgt_epu8_mask(m[r], hi);
        u[r] = _mm512_mask_mov_epi8(_mm512_maskz_mov_epi8(k1, one), k2, two);
        m[r] = _mm512_add_epi8(m[r], _mm512_add_epi8(m[r], m[r]));
      }
      for (int c = 0; c < C; ++c) {
        const __m512i xv = _mm512_loadu_si512(x[c] + b * 320 + 64 * t);
        for (int r = 0; r < R; ++r) detail::dpbusd(acc[r][c], u[r], xv);
      }
    }
  }
  detail::store_tile_sums(acc, out);
}
#endif

#if TERN_KERNELS_NEON
#if defined(__ARM_FEATURE_DOTPROD)
#define TERN_B3_DOTPROD_TARGET
#else
#define TERN_B3_DOTPROD_TARGET __attribute__((target("arch=armv8.2-a+dotprod")))
#endif

namespace detail {
/// -c_t as int8 lanes in {0, -1, -2} (each vcgeq_u8 mask is 0 or -1), and m <- 3 m mod 256.
inline int8x16_t neon_b3_neg_code(uint8x16_t& m) {
  const int8x16_t n = vreinterpretq_s8_u8(vaddq_u8(vcgeq_u8(m, vdupq_n_u8(86)), vcgeq_u8(m, vdupq_n_u8(171))));
  m = vmulq_u8(m, vdupq_n_u8(3));
  return n;
}
}  // namespace detail

template <int R, int C>
inline void dot_tile_b3(neon, const std::uint8_t* const* w, const std::int8_t* const* x, index nblocks,
                        std::int32_t* out) {
  int32x4_t acc[R][C];  // sums of -c x
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = vdupq_n_s32(0);
  for (index b = 0; b < nblocks; ++b) {
    int16x8_t part[R][C];
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) part[r][c] = vdupq_n_s16(0);
    for (int h = 0; h < 64; h += 16) {
      uint8x16_t m[R];
      for (int r = 0; r < R; ++r) m[r] = vld1q_u8(w[r] + b * 64 + h);
      for (int t = 0; t < 5; ++t) {
        int8x16_t n[R];
        for (int r = 0; r < R; ++r) n[r] = detail::neon_b3_neg_code(m[r]);
        for (int c = 0; c < C; ++c) {
          const int8x16_t xv = vld1q_s8(x[c] + b * 320 + 64 * t + h);
          for (int r = 0; r < R; ++r) {
            part[r][c] = vmlal_s8(part[r][c], vget_low_s8(n[r]), vget_low_s8(xv));
            part[r][c] = vmlal_high_s8(part[r][c], n[r], xv);
          }
        }
      }
    }
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) acc[r][c] = vpadalq_s16(acc[r][c], part[r][c]);
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) out[r * C + c] = -vaddvq_s32(acc[r][c]);
}

template <int R, int C>
TERN_B3_DOTPROD_TARGET inline void dot_tile_b3(neon_dotprod, const std::uint8_t* const* w,
                                               const std::int8_t* const* x, index nblocks, std::int32_t* out) {
  int32x4_t acc[R][C];  // sums of -c x
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = vdupq_n_s32(0);
  for (index b = 0; b < nblocks; ++b)
    for (int h = 0; h < 64; h += 16) {
      uint8x16_t m[R];
      for (int r = 0; r < R; ++r) m[r] = vld1q_u8(w[r] + b * 64 + h);
      for (int t = 0; t < 5; ++t) {
        int8x16_t n[R];
        for (int r = 0; r < R; ++r) n[r] = detail::neon_b3_neg_code(m[r]);
        for (int c = 0; c < C; ++c) {
          const int8x16_t xv = vld1q_s8(x[c] + b * 320 + 64 * t + h);
          for (int r = 0; r < R; ++r) acc[r][c] = vdotq_s32(acc[r][c], n[r], xv);
        }
      }
    }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) out[r * C + c] = -vaddvq_s32(acc[r][c]);
}

#undef TERN_B3_DOTPROD_TARGET
#endif  // TERN_KERNELS_NEON

}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels
