#pragma once
// AVX-512 VNNI micro-kernels (tag `avx512vnni`): vpdpbusd (u8 x s8 -> s32, four products per
// lane, no saturation). Specification: kernels/reference.hpp; contract: kernels/detail/common.hpp.
//
// Generic tiles (any R x C): the avx512 decoders (detail/avx512bw.hpp), one unpack per row and
// slice reused for the C tokens, vpdpbusd straight into int32.
// Named-accumulator tiles (tile_shape<avx512vnni, W>, tied by static_assert below): GCC 12 keeps
// an array of 24 vectors in memory (a load and a store per accumulator and block), which cost
// 25-50 % of the GEMM rate, so the GEMM tiles spell their accumulators out. The tq2 GEMV is
// compiled out of line (noinline): inlined into the driver's tile loop, GCC 12 ran out of
// registers for its four activation vectors and reloaded them for every row (a third of the
// hot GEMV rate on Zen 4: library call 192 -> ~320 GFLOP/s mean once out of line). The GEMM
// tiles and the tq1 GEMV measured 3-5 % (GEMM, within noise) and ~15 % (tq1) faster inlined.
//  - tq2 GEMV (C = 1), "mask-only unpack": slice s is taken as w & (3 << 2s) = 4^s u, with no
//    shift, into its own accumulator a_s, and sum = a_0 + (a_1 >> 2) + (a_2 >> 4) + (a_3 >> 6).
//    Every term of a_s is a multiple of 4^s, so the arithmetic shifts are exact. A lane of a_3
//    grows by at most 4 * 128 * 128 = 2^16 per block; the a_s are folded into the total every
//    4096 blocks (2^28 < 2^31), so any K is exact. Rows in passes of T::vnni_gemv_pass_rows.
//  - tq2 GEMM 3 x 8: 24 named accumulators, 3 unpacked rows, the token vector and the mask: 29
//    of the 32 registers; each activation load feeds 3 vpdpbusd.
//  - tq1 GEMV, "product decode": no codes are formed. Per byte, 3 m_t = 256 c_t + m_{t+1} exactly
//    (m_{t+1} = 3 m_t mod 256), so 256 sum_t c_t x_t = 3 sum_t m_t x_t - sum_t m_{t+1} x_t: two
//    vpdpbusd per trit feed A += m_t . x_t and B += m_{t+1} . x_t with the states themselves as
//    the unsigned operand (0..255, no saturation in vpdpbusd), and the recurrence's two byte adds
//    are the whole decode: 4 ops per trit instead of 7. Per int32 lane, 3 A - B = 256 S (S the
//    lane's sum of c x) holds modulo 2^32, hence exactly while |256 S| < 2^31: a lane's S grows by
//    at most 20 x 2 x 128 = 5120 per block, so (3 A - B) >> 8 (arithmetic, exact) is folded into
//    the total every 1024 blocks (256 x 5120 x 1024 = 5 x 2^28 < 2^31) and any K is exact.
//  - tq1 GEMM 2 x 8: the avx512 compare decode, 16 named accumulators.
#include "tern/kernels/detail/common.hpp"

#include <algorithm>
#include <cstdint>

#include "tern/core/matrix.hpp"
#include "tern/kernels/detail/avx2.hpp"
#include "tern/kernels/detail/avx512bw.hpp"
#include "tern/kernels/packed_ternary.hpp"
#include "tern/kernels/packed_ternary_base3.hpp"
#include "tern/kernels/tuning.hpp"

#if TERN_KERNELS_X86
#include <immintrin.h>

namespace tern::kernels {
inline namespace TERN_KERNELS_ABI {
namespace detail {

/// acc += vpdpbusd(u, x), in place. GCC 12 treats the intrinsic as non-destructive and copies
/// accumulators around (register moves and spills in the hot loop); the one-instruction asm
/// pins the accumulator to its register.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) inline void dpbusd(__m512i& acc, __m512i u,
                                                                                    __m512i x) {
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u), "v"(x));
}

/// Three rows against one token: a += u0 . x, b += u1 . x, c += u2 . x.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) inline void dpbusd3(__m512i& a, __m512i& b, __m512i& c,
                                                                                     __m512i u0, __m512i u1, __m512i u2,
                                                                                     __m512i x) {
  dpbusd(a, u0, x);
  dpbusd(b, u1, x);
  dpbusd(c, u2, x);
}

/// Four rows against one token.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) inline void dpbusd4(__m512i& a, __m512i& b, __m512i& c,
                                                                                     __m512i& d, __m512i u0, __m512i u1,
                                                                                     __m512i u2, __m512i u3, __m512i x) {
  dpbusd(a, u0, x);
  dpbusd(b, u1, x);
  dpbusd(c, u2, x);
  dpbusd(d, u3, x);
}

/// Two rows against one token: a += u0 . x, b += u1 . x.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) inline void dpbusd2(__m512i& a, __m512i& b, __m512i u0,
                                                                                     __m512i u1, __m512i x) {
  dpbusd(a, u0, x);
  dpbusd(b, u1, x);
}

namespace avx512vnni_isa {
constexpr index bb = k_layout::block_bytes;

/// The named tiles are the VNNI tile shapes.
static_assert(tile_shape<avx512vnni, packed_ternary>::gemm_rows == 3 &&
                  tile_shape<avx512vnni, packed_ternary>::gemm_cols == 8,
              "the tq2 GEMM tile of tile_shape<avx512vnni> is the named 3 x 8 tile below");
static_assert(tile_shape<avx512vnni, packed_ternary_base3>::gemm_rows == 2 &&
                  tile_shape<avx512vnni, packed_ternary_base3>::gemm_cols == 8,
              "the tq1 GEMM tile of tile_shape<avx512vnni> is the named 2 x 8 tile below");
static_assert(tuning_zen4::shape<avx512vnni, packed_ternary>::gemm_rows == 4 &&
                  tuning_zen4::shape<avx512vnni, packed_ternary>::gemm_cols == 6,
              "the tq2 GEMM tile of the Zen 4 tuning is the named 4 x 6 tile below");
static_assert(tile_shape<avx512vnni, packed_ternary_base3>::gemv_rows <= 4 &&
                  tuning_zen4::shape<avx512vnni, packed_ternary_base3>::gemv_rows <= 4,
              "the tq1 product-decode GEMV takes at most 4 rows");

/// The generic VNNI tile loop (shapes without a named tile).
template <int R, int C, class T, class W>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) inline void loop(const std::uint8_t* const* w,
                                                                                  const std::int8_t* const* x,
                                                                                  index nblocks, std::int32_t* out) {
  using D = avx512_isa::decoder<W>;
  static_assert(D::sign == 1);
  constexpr index bw = W::block_weights;
  __m512i acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_si512();
  for (index b = 0; b < nblocks; ++b) {
    typename D::state st[R];
    for (int r = 0; r < R; ++r) {
      if constexpr (C == 1) prefetch_weights<T>(w[r], b);
      st[r] = D::load(w[r] + b * bb);
    }
    for (int t = 0; t < D::slices; ++t) {
      __m512i u[R];
      for (int r = 0; r < R; ++r) u[r] = D::slice(st[r], t);
      for (int c = 0; c < C; ++c) {
        const __m512i xv = _mm512_loadu_si512(x[c] + b * bw + bb * t);
        for (int r = 0; r < R; ++r) dpbusd(acc[r][c], u[r], xv);
      }
    }
  }
  store_tile_sums(acc, out);
}

/// The four slice accumulators of one row in the mask-only tq2 GEMV (named members of a local
/// struct: GCC keeps them in registers, where an array of them lands in memory).
struct mask_acc {
  __m512i s0, s1, s2, s3;
};

/// One block of one row: a_s += (w & (3 << 2s)) . x_s.
template <bool Pin>
[[gnu::always_inline, gnu::target("avx512f,avx512bw,avx512vl,avx512vnni")]] inline void mask_step(
    mask_acc& a, const std::uint8_t* wp, __m512i x0, __m512i x1, __m512i x2, __m512i x3) {
  __m512i v = _mm512_loadu_si512(wp);
  if constexpr (Pin) asm("" : "+v"(v));  // one load, not one folded into each AND
  dpbusd(a.s0, _mm512_and_si512(v, _mm512_set1_epi8(0x03)), x0);
  dpbusd(a.s1, _mm512_and_si512(v, _mm512_set1_epi8(0x0c)), x1);
  dpbusd(a.s2, _mm512_and_si512(v, _mm512_set1_epi8(0x30)), x2);
  dpbusd(a.s3, _mm512_and_si512(v, _mm512_set1_epi8(char(0xc0))), x3);
}

/// a_0 + (a_1 >> 2) + (a_2 >> 4) + (a_3 >> 6), exact (file comment).
[[gnu::always_inline, gnu::target("avx512f,avx512bw,avx512vl")]] inline __m512i mask_fold(const mask_acc& a) {
  return _mm512_add_epi32(_mm512_add_epi32(a.s0, _mm512_srai_epi32(a.s1, 2)),
                          _mm512_add_epi32(_mm512_srai_epi32(a.s2, 4), _mm512_srai_epi32(a.s3, 6)));
}

/// tq2 GEMV rows, mask-only unpack (file comment): P = T::vnni_gemv_pass_rows rows at a time.
template <int R, class T>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"), noinline)) inline void tq2_gemv(const std::uint8_t* const* w,
                                                                                      const std::int8_t* x,
                                                                                      index nblocks, std::int32_t* out) {
  constexpr int P = T::vnni_gemv_pass_rows;
  constexpr bool pin = T::pin_weight_loads;
  static_assert(P == 2 || P == 4, "the tq2 GEMV walks 2 or 4 rows at a time");
  constexpr index fold_blocks = 4096;
  constexpr index bw = packed_ternary::block_weights;
  __m512i tot[R];
  for (int r0 = 0; r0 < R; r0 += P) {
    const std::uint8_t* w0 = w[r0];
    const std::uint8_t* w1 = w[std::min(r0 + 1, R - 1)];
    const std::uint8_t* w2 = w[std::min(r0 + 2, R - 1)];
    const std::uint8_t* w3 = w[std::min(r0 + 3, R - 1)];
    __m512i t0 = _mm512_setzero_si512(), t1 = t0, t2 = t0, t3 = t0;
    for (index b0 = 0; b0 < nblocks; b0 += fold_blocks) {
      const index b1 = std::min(nblocks, b0 + fold_blocks);
      const __m512i z = _mm512_setzero_si512();
      mask_acc a0{z, z, z, z}, a1 = a0, a2 = a0, a3 = a0;
      for (index b = b0; b < b1; ++b) {
        if constexpr (T::prefetch_linear) {
          // The P rows are contiguous (row_bytes apart): prefetch their P lines per block in
          // memory order, P * 64 bytes per block ahead of the pass's start.
          for (int p = 0; p < P; ++p) prefetch_weights<T>(w0, b * P + p);
        } else {
          prefetch_weights<T>(w0, b);
          prefetch_weights<T>(w1, b);
          if constexpr (P == 4) {
            prefetch_weights<T>(w2, b);
            prefetch_weights<T>(w3, b);
          }
        }
        const __m512i x0 = _mm512_loadu_si512(x + b * bw), x1 = _mm512_loadu_si512(x + b * bw + bb),
                      x2 = _mm512_loadu_si512(x + b * bw + 2 * bb), x3 = _mm512_loadu_si512(x + b * bw + 3 * bb);
        mask_step<pin>(a0, w0 + b * bb, x0, x1, x2, x3);
        mask_step<pin>(a1, w1 + b * bb, x0, x1, x2, x3);
        if constexpr (P == 4) {
          mask_step<pin>(a2, w2 + b * bb, x0, x1, x2, x3);
          mask_step<pin>(a3, w3 + b * bb, x0, x1, x2, x3);
        }
      }
      t0 = _mm512_add_epi32(t0, mask_fold(a0));
      t1 = _mm512_add_epi32(t1, mask_fold(a1));
      if constexpr (P == 4) {
        t2 = _mm512_add_epi32(t2, mask_fold(a2));
        t3 = _mm512_add_epi32(t3, mask_fold(a3));
      }
    }
    const __m512i t[4] = {t0, t1, t2, t3};
    for (int p = 0; p < P && r0 + p < R; ++p) tot[r0 + p] = t[p];
  }
  hsum_n(tot, R, out);
}

/// tq2 GEMM, the named 3 x 8 tile (file comment).
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) inline void tq2_tile_3x8(const std::uint8_t* const* w,
                                                                                          const std::int8_t* const* x,
                                                                                          index nblocks,
                                                                                          std::int32_t* out) {
  constexpr index bw = packed_ternary::block_weights;
  const __m512i m3 = _mm512_set1_epi8(3);
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  __m512i b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0, b6 = a0, b7 = a0;
  __m512i c0 = a0, c1 = a0, c2 = a0, c3 = a0, c4 = a0, c5 = a0, c6 = a0, c7 = a0;
  for (index b = 0; b < nblocks; ++b) {
    const __m512i v0 = _mm512_loadu_si512(w[0] + b * bb), v1 = _mm512_loadu_si512(w[1] + b * bb),
                  v2 = _mm512_loadu_si512(w[2] + b * bb);
    for (int s = 0; s < 4; ++s) {
      const __m512i u0 = _mm512_and_si512(_mm512_srli_epi16(v0, 2 * s), m3);
      const __m512i u1 = _mm512_and_si512(_mm512_srli_epi16(v1, 2 * s), m3);
      const __m512i u2 = _mm512_and_si512(_mm512_srli_epi16(v2, 2 * s), m3);
      const index off = b * bw + bb * s;
      dpbusd3(a0, b0, c0, u0, u1, u2, _mm512_loadu_si512(x[0] + off));
      dpbusd3(a1, b1, c1, u0, u1, u2, _mm512_loadu_si512(x[1] + off));
      dpbusd3(a2, b2, c2, u0, u1, u2, _mm512_loadu_si512(x[2] + off));
      dpbusd3(a3, b3, c3, u0, u1, u2, _mm512_loadu_si512(x[3] + off));
      dpbusd3(a4, b4, c4, u0, u1, u2, _mm512_loadu_si512(x[4] + off));
      dpbusd3(a5, b5, c5, u0, u1, u2, _mm512_loadu_si512(x[5] + off));
      dpbusd3(a6, b6, c6, u0, u1, u2, _mm512_loadu_si512(x[6] + off));
      dpbusd3(a7, b7, c7, u0, u1, u2, _mm512_loadu_si512(x[7] + off));
    }
  }
  const __m512i z = _mm512_setzero_si512();
  const __m512i rows01[16] = {a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3, b4, b5, b6, b7};
  const __m512i row2[16] = {c0, c1, c2, c3, c4, c5, c6, c7, z, z, z, z, z, z, z, z};  // the zero half folds away
  std::int32_t last[16];
  hsum16(rows01, out);
  hsum16(row2, last);
  std::copy(last, last + 8, out + 16);
}

/// tq2 GEMM, the named 4 x 6 tile (the Zen 4 tuning): 24 accumulators as in 3 x 8, but the six
/// tokens' activations (24 KiB at K = 4096) fit Zen 4's 32 KiB L1 next to the weights, where
/// eight tokens' fill it, and each activation load feeds 4 vpdpbusd instead of 3.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) inline void tq2_tile_4x6(const std::uint8_t* const* w,
                                                                                          const std::int8_t* const* x,
                                                                                          index nblocks,
                                                                                          std::int32_t* out) {
  constexpr index bw = packed_ternary::block_weights;
  const __m512i m3 = _mm512_set1_epi8(3);
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
  __m512i b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0;
  __m512i c0 = a0, c1 = a0, c2 = a0, c3 = a0, c4 = a0, c5 = a0;
  __m512i d0 = a0, d1 = a0, d2 = a0, d3 = a0, d4 = a0, d5 = a0;
  for (index b = 0; b < nblocks; ++b) {
    for (int s = 0; s < packed_ternary::slices; ++s) {
      const __m512i u0 = _mm512_and_si512(_mm512_srli_epi16(_mm512_loadu_si512(w[0] + b * bb), 2 * s), m3);
      const __m512i u1 = _mm512_and_si512(_mm512_srli_epi16(_mm512_loadu_si512(w[1] + b * bb), 2 * s), m3);
      const __m512i u2 = _mm512_and_si512(_mm512_srli_epi16(_mm512_loadu_si512(w[2] + b * bb), 2 * s), m3);
      const __m512i u3 = _mm512_and_si512(_mm512_srli_epi16(_mm512_loadu_si512(w[3] + b * bb), 2 * s), m3);
      const index off = b * bw + bb * s;
      dpbusd4(a0, b0, c0, d0, u0, u1, u2, u3, _mm512_loadu_si512(x[0] + off));
      dpbusd4(a1, b1, c1, d1, u0, u1, u2, u3, _mm512_loadu_si512(x[1] + off));
      dpbusd4(a2, b2, c2, d2, u0, u1, u2, u3, _mm512_loadu_si512(x[2] + off));
      dpbusd4(a3, b3, c3, d3, u0, u1, u2, u3, _mm512_loadu_si512(x[3] + off));
      dpbusd4(a4, b4, c4, d4, u0, u1, u2, u3, _mm512_loadu_si512(x[4] + off));
      dpbusd4(a5, b5, c5, d5, u0, u1, u2, u3, _mm512_loadu_si512(x[5] + off));
    }
  }
  const __m512i z = _mm512_setzero_si512();
  const __m512i rows01[16] = {a0, a1, a2, a3, a4, a5, b0, b1, b2, b3, b4, b5, c0, c1, c2, c3};
  const __m512i rest[16] = {c4, c5, d0, d1, d2, d3, d4, d5, z, z, z, z, z, z, z, z};
  std::int32_t last[16];
  hsum16(rows01, out);
  hsum16(rest, last);
  std::copy(last, last + 8, out + 16);
}

/// S = (3 a - s) >> 8 per lane: 3 a - s = 256 S holds modulo 2^32, exactly while |256 S| < 2^31
/// (the caller folds often enough, file comment), so the arithmetic shift is exact.
__attribute__((target("avx512f"))) inline __m512i b3_fold(__m512i a, __m512i s) {
  return _mm512_srai_epi32(_mm512_sub_epi32(_mm512_add_epi32(a, _mm512_add_epi32(a, a)), s), 8);
}

/// tq1 GEMV rows by the product decode (file comment). Always four rows (R < 4 repeats the last
/// row and drops its sums), with named accumulators: four rows give 8 independent vpdpbusd
/// chains, enough to cover its latency.
template <int R, class T>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) inline void tq1_gemv(const std::uint8_t* const* w,
                                                                                      const std::int8_t* x,
                                                                                      index nblocks, std::int32_t* out) {
  static_assert(R >= 1 && R <= 4, "the product-decode GEMV takes at most 4 rows");
  constexpr index fold_blocks = 1024;
  constexpr index bw = packed_ternary_base3::block_weights;
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
      prefetch_weights<T>(w0, b);
      prefetch_weights<T>(w1, b);
      prefetch_weights<T>(w2, b);
      prefetch_weights<T>(w3, b);
      __m512i m0 = _mm512_loadu_si512(w0 + b * bb), m1 = _mm512_loadu_si512(w1 + b * bb);
      __m512i m2 = _mm512_loadu_si512(w2 + b * bb), m3 = _mm512_loadu_si512(w3 + b * bb);
      for (int t = 0; t < packed_ternary_base3::trits; ++t) {
        const __m512i xv = _mm512_loadu_si512(x + b * bw + bb * t);
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

/// tq1 GEMM, the named 2 x 8 tile.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) inline void tq1_tile_2x8(const std::uint8_t* const* w,
                                                                                          const std::int8_t* const* x,
                                                                                          index nblocks,
                                                                                          std::int32_t* out) {
  using D = avx512_isa::decoder<packed_ternary_base3>;
  constexpr index bw = packed_ternary_base3::block_weights;
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  __m512i b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0, b6 = a0, b7 = a0;
  for (index b = 0; b < nblocks; ++b) {
    D::state m0 = D::load(w[0] + b * bb), m1 = D::load(w[1] + b * bb);
    for (int t = 0; t < D::slices; ++t) {
      const __m512i u0 = D::slice(m0, t), u1 = D::slice(m1, t);
      const index off = b * bw + bb * t;
      dpbusd2(a0, b0, u0, u1, _mm512_loadu_si512(x[0] + off));
      dpbusd2(a1, b1, u0, u1, _mm512_loadu_si512(x[1] + off));
      dpbusd2(a2, b2, u0, u1, _mm512_loadu_si512(x[2] + off));
      dpbusd2(a3, b3, u0, u1, _mm512_loadu_si512(x[3] + off));
      dpbusd2(a4, b4, u0, u1, _mm512_loadu_si512(x[4] + off));
      dpbusd2(a5, b5, u0, u1, _mm512_loadu_si512(x[5] + off));
      dpbusd2(a6, b6, u0, u1, _mm512_loadu_si512(x[6] + off));
      dpbusd2(a7, b7, u0, u1, _mm512_loadu_si512(x[7] + off));
    }
  }
  const __m512i flat[16] = {a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3, b4, b5, b6, b7};
  hsum16(flat, out);
}
}  // namespace avx512vnni_isa

/// tq2 on VNNI: the mask-only GEMV, the named 3 x 8 GEMM tile, else the generic loop.
template <int R, int C, class T>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) inline void dot_tile(
    avx512vnni, format_tag<packed_ternary>, const std::uint8_t* const* w, const std::int8_t* const* x, index nblocks,
    std::int32_t* out) {
  if constexpr (C == 1)
    avx512vnni_isa::tq2_gemv<R, T>(w, x[0], nblocks, out);
  else if constexpr (R == 3 && C == 8)
    avx512vnni_isa::tq2_tile_3x8(w, x, nblocks, out);
  else if constexpr (R == 4 && C == 6)
    avx512vnni_isa::tq2_tile_4x6(w, x, nblocks, out);
  else
    avx512vnni_isa::loop<R, C, T, packed_ternary>(w, x, nblocks, out);
}

/// tq1 on VNNI: the product-decode GEMV, the named 2 x 8 GEMM tile, else the generic loop.
template <int R, int C, class T>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) inline void dot_tile(
    avx512vnni, format_tag<packed_ternary_base3>, const std::uint8_t* const* w, const std::int8_t* const* x,
    index nblocks, std::int32_t* out) {
  if constexpr (C == 1 && R <= 4)
    avx512vnni_isa::tq1_gemv<R, T>(w, x[0], nblocks, out);
  else if constexpr (R == 2 && C == 8)
    avx512vnni_isa::tq1_tile_2x8(w, x, nblocks, out);
  else
    avx512vnni_isa::loop<R, C, T, packed_ternary_base3>(w, x, nblocks, out);
}

}  // namespace detail
}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels

#endif  // TERN_KERNELS_X86
