#pragma once
// AVX-512 micro-kernels (tags `avx512bw` and `avx512vnni`). Specification:
// kernels/reference.hpp; contract of dot_tile: kernels/generic_kernel.hpp.
//
// avx512bw: the AVX2 scheme (vpmaddubsw, int16 sum of the 4 slices <= 2048, vpmaddwd) on one
//   64-byte block per load.
// avx512vnni, GEMM tiles (C > 1): each row's block is unpacked once per slice,
//   u = (w >> 2s) & 3, and reused for all C columns: vpdpbusd(acc, u, x) (u8 x s8 -> s32,
//   four products per lane, no saturation).
// avx512vnni, GEMV (C = 1), "mask-only unpack": slice s is taken as w & (3 << 2s) = 4^s u, with
//   no shift, into its own accumulator a_s, and sum = a_0 + (a_1 >> 2) + (a_2 >> 4) + (a_3 >> 6).
//   Every term of a_s is a multiple of 4^s, so the arithmetic shifts are exact. A lane of a_3
//   grows by at most 4 * 128 * 128 = 2^16 per block; the a_s are folded into the total every
//   4096 blocks (2^28 < 2^31), so any K is exact.
// Function-level target attributes: present in every x86 build, called only when the CPU can.
#include <algorithm>
#include <cstdint>

#include "tern/core/matrix.hpp"
#include "tern/kernels/arch.hpp"
#include "tern/kernels/avx2_kernel.hpp"

#if TERN_KERNELS_X86
#include <immintrin.h>

namespace tern::kernels {
inline namespace TERN_KERNELS_ABI {
namespace detail {
/// Horizontal sum of 16 int32 lanes (GCC 12's _mm512_reduce_add_epi32 warns under -Wall).
__attribute__((target("avx512f,avx512bw,avx512vl"))) inline std::int32_t hsum(__m512i v) {
  alignas(64) std::int32_t t[16];
  _mm512_store_si512(t, v);
  std::int32_t r = 0;
  for (int i = 0; i < 16; ++i) r += t[i];
  return r;
}

/// out[i] = sum of the 16 lanes of v[i], i < 16: a transposing reduction tree (45 shuffles and
/// adds for 16 sums instead of 16 separate horizontal sums).
__attribute__((target("avx512f,avx512bw,avx512vl"))) inline void hsum16(const __m512i* v, std::int32_t* out) {
  // The all-ones zero-masking forms: the unmasked intrinsics pass an "undefined" vector that
  // GCC 12 reports as uninitialized (-Wuninitialized) when the TU lacks -mavx512f.
  constexpr __mmask16 all16 = 0xffff;
  constexpr __mmask8 all8 = 0xff;
  __m512i a[8], b[4];
  for (int i = 0; i < 8; ++i)
    a[i] = _mm512_add_epi32(_mm512_maskz_unpacklo_epi32(all16, v[2 * i], v[2 * i + 1]),
                            _mm512_maskz_unpackhi_epi32(all16, v[2 * i], v[2 * i + 1]));
  for (int j = 0; j < 4; ++j)
    b[j] = _mm512_add_epi32(_mm512_maskz_unpacklo_epi64(all8, a[2 * j], a[2 * j + 1]),
                            _mm512_maskz_unpackhi_epi64(all8, a[2 * j], a[2 * j + 1]));
  // b[j], 128-bit lane l: partial sums of v[4j .. 4j+3] over lane l.
  const __m512i c0 = _mm512_add_epi32(_mm512_maskz_shuffle_i32x4(all16, b[0], b[1], 0x88),
                                      _mm512_maskz_shuffle_i32x4(all16, b[0], b[1], 0xdd));
  const __m512i c1 = _mm512_add_epi32(_mm512_maskz_shuffle_i32x4(all16, b[2], b[3], 0x88),
                                      _mm512_maskz_shuffle_i32x4(all16, b[2], b[3], 0xdd));
  const __m512i d = _mm512_add_epi32(_mm512_maskz_shuffle_i32x4(all16, c0, c1, 0x88),
                                     _mm512_maskz_shuffle_i32x4(all16, c0, c1, 0xdd));
  _mm512_storeu_si512(out, d);
}

/// out[i] = sum of the lanes of v[i], i < n.
__attribute__((target("avx512f,avx512bw,avx512vl"))) inline void hsum_n(const __m512i* v, int n, std::int32_t* out) {
  int i = 0;
  for (; i + 16 <= n; i += 16) hsum16(v + i, out + i);
  for (; i < n; ++i) out[i] = hsum(v[i]);
}

/// out[r * C + c] = sum of the lanes of acc[r][c]: the end of the R x C tiles kept in arrays.
/// Always inlined, so the accumulators stay in registers in the caller (an out-of-line call
/// taking acc's address would keep them in memory); the sums go through a flat copy.
template <int R, int C>
__attribute__((target("avx512f,avx512bw,avx512vl"), always_inline)) inline void store_tile_sums(
    const __m512i (&acc)[R][C], std::int32_t* out) {
  __m512i flat[R * C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) flat[r * C + c] = acc[r][c];
  hsum_n(flat, R * C, out);
}

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

/// Two rows against one token: a += u0 . x, b += u1 . x.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) inline void dpbusd2(__m512i& a, __m512i& b, __m512i u0,
                                                                                     __m512i u1, __m512i x) {
  dpbusd(a, u0, x);
  dpbusd(b, u1, x);
}
}  // namespace detail

template <int R, int C>
__attribute__((target("avx512f,avx512bw,avx512vl"))) inline void dot_tile(avx512bw, const std::uint8_t* const* w,
                                                                           const std::int8_t* const* x,
                                                                           index nblocks, std::int32_t* out) {
  __m512i acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_si512();
  const __m512i m3 = _mm512_set1_epi8(3), ones = _mm512_set1_epi16(1);
  for (index b = 0; b < nblocks; ++b) {
    __m512i wv[R], part[R][C];
    for (int r = 0; r < R; ++r) {
      if constexpr (C == 1) detail::prefetch_weights(w[r], b);
      wv[r] = _mm512_loadu_si512(w[r] + b * 64);
      for (int c = 0; c < C; ++c) part[r][c] = _mm512_setzero_si512();
    }
    for (int s = 0; s < 4; ++s) {
      __m512i u[R];
      for (int r = 0; r < R; ++r) u[r] = _mm512_and_si512(_mm512_srli_epi16(wv[r], 2 * s), m3);
      for (int c = 0; c < C; ++c) {
        const __m512i xv = _mm512_loadu_si512(x[c] + b * 256 + 64 * s);
        for (int r = 0; r < R; ++r) part[r][c] = _mm512_add_epi16(part[r][c], _mm512_maddubs_epi16(u[r], xv));
      }
    }
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) acc[r][c] = _mm512_add_epi32(acc[r][c], _mm512_madd_epi16(part[r][c], ones));
  }
  detail::store_tile_sums(acc, out);
}

template <int R, int C>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) inline void dot_tile(
    avx512vnni, const std::uint8_t* const* w, const std::int8_t* const* x, index nblocks, std::int32_t* out) {
  if constexpr (C == 1) {
    constexpr index chunk = 4096;
    __m512i tot[R];
    for (int r0 = 0; r0 < R; r0 += 2) {  // two rows at a time: 8 accumulators in registers
      const std::uint8_t* w0 = w[r0];
      const std::uint8_t* w1 = w[std::min(r0 + 1, R - 1)];
      const std::int8_t* xp = x[0];
      __m512i t0 = _mm512_setzero_si512(), t1 = _mm512_setzero_si512();
      for (index b0 = 0; b0 < nblocks; b0 += chunk) {
        const index b1 = std::min(nblocks, b0 + chunk);
        __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, c0 = a0, c1 = a0, c2 = a0, c3 = a0;
        for (index b = b0; b < b1; ++b) {
          detail::prefetch_weights(w0, b);
          detail::prefetch_weights(w1, b);
          const __m512i x0 = _mm512_loadu_si512(xp + b * 256), x1 = _mm512_loadu_si512(xp + b * 256 + 64),
                        x2 = _mm512_loadu_si512(xp + b * 256 + 128), x3 = _mm512_loadu_si512(xp + b * 256 + 192);
          const __m512i v0 = _mm512_loadu_si512(w0 + b * 64), v1 = _mm512_loadu_si512(w1 + b * 64);
          detail::dpbusd(a0, _mm512_and_si512(v0, _mm512_set1_epi8(0x03)), x0);
          detail::dpbusd(c0, _mm512_and_si512(v1, _mm512_set1_epi8(0x03)), x0);
          detail::dpbusd(a1, _mm512_and_si512(v0, _mm512_set1_epi8(0x0c)), x1);
          detail::dpbusd(c1, _mm512_and_si512(v1, _mm512_set1_epi8(0x0c)), x1);
          detail::dpbusd(a2, _mm512_and_si512(v0, _mm512_set1_epi8(0x30)), x2);
          detail::dpbusd(c2, _mm512_and_si512(v1, _mm512_set1_epi8(0x30)), x2);
          detail::dpbusd(a3, _mm512_and_si512(v0, _mm512_set1_epi8(char(0xc0))), x3);
          detail::dpbusd(c3, _mm512_and_si512(v1, _mm512_set1_epi8(char(0xc0))), x3);
        }
        t0 = _mm512_add_epi32(t0, _mm512_add_epi32(_mm512_add_epi32(a0, _mm512_srai_epi32(a1, 2)),
                                                   _mm512_add_epi32(_mm512_srai_epi32(a2, 4), _mm512_srai_epi32(a3, 6))));
        t1 = _mm512_add_epi32(t1, _mm512_add_epi32(_mm512_add_epi32(c0, _mm512_srai_epi32(c1, 2)),
                                                   _mm512_add_epi32(_mm512_srai_epi32(c2, 4), _mm512_srai_epi32(c3, 6))));
      }
      tot[r0] = t0;
      if (r0 + 1 < R) tot[r0 + 1] = t1;
    }
    detail::hsum_n(tot, R, out);
  } else if constexpr (R == 3 && C == 8) {
    // The GEMM tile of tile_shape<avx512vnni>: 24 named accumulators (GCC 12 keeps an array of
    // vectors in memory, a load and a store per accumulator and block), 3 unpacked rows, the
    // token vector and the mask: 29 of the 32 registers. Against a 2 x 8 tile, each activation
    // load feeds 3 vpdpbusd instead of 2 and the per-call work (pointer set-up, the 16-lane
    // reductions, the epilogue) is spread over 24 outputs instead of 16.
    const __m512i m3 = _mm512_set1_epi8(3);
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    __m512i b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0, b6 = a0, b7 = a0;
    __m512i c0 = a0, c1 = a0, c2 = a0, c3 = a0, c4 = a0, c5 = a0, c6 = a0, c7 = a0;
    for (index b = 0; b < nblocks; ++b) {
      const __m512i v0 = _mm512_loadu_si512(w[0] + b * 64), v1 = _mm512_loadu_si512(w[1] + b * 64),
                    v2 = _mm512_loadu_si512(w[2] + b * 64);
      for (int s = 0; s < 4; ++s) {
        const __m512i u0 = _mm512_and_si512(_mm512_srli_epi16(v0, 2 * s), m3);
        const __m512i u1 = _mm512_and_si512(_mm512_srli_epi16(v1, 2 * s), m3);
        const __m512i u2 = _mm512_and_si512(_mm512_srli_epi16(v2, 2 * s), m3);
        const index off = b * 256 + 64 * s;
        detail::dpbusd3(a0, b0, c0, u0, u1, u2, _mm512_loadu_si512(x[0] + off));
        detail::dpbusd3(a1, b1, c1, u0, u1, u2, _mm512_loadu_si512(x[1] + off));
        detail::dpbusd3(a2, b2, c2, u0, u1, u2, _mm512_loadu_si512(x[2] + off));
        detail::dpbusd3(a3, b3, c3, u0, u1, u2, _mm512_loadu_si512(x[3] + off));
        detail::dpbusd3(a4, b4, c4, u0, u1, u2, _mm512_loadu_si512(x[4] + off));
        detail::dpbusd3(a5, b5, c5, u0, u1, u2, _mm512_loadu_si512(x[5] + off));
        detail::dpbusd3(a6, b6, c6, u0, u1, u2, _mm512_loadu_si512(x[6] + off));
        detail::dpbusd3(a7, b7, c7, u0, u1, u2, _mm512_loadu_si512(x[7] + off));
      }
    }
    const __m512i z = _mm512_setzero_si512();
    const __m512i rows01[16] = {a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3, b4, b5, b6, b7};
    const __m512i row2[16] = {c0, c1, c2, c3, c4, c5, c6, c7, z, z, z, z, z, z, z, z};  // the zero half folds away
    std::int32_t last[16];
    detail::hsum16(rows01, out);
    detail::hsum16(row2, last);
    std::copy(last, last + 8, out + 16);
  } else {
    __m512i acc[R][C];
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_si512();
    const __m512i m3 = _mm512_set1_epi8(3);
    for (index b = 0; b < nblocks; ++b) {
      __m512i wv[R];
      for (int r = 0; r < R; ++r) wv[r] = _mm512_loadu_si512(w[r] + b * 64);
      for (int s = 0; s < 4; ++s) {
        __m512i u[R];
        for (int r = 0; r < R; ++r) u[r] = _mm512_and_si512(_mm512_srli_epi16(wv[r], 2 * s), m3);
        for (int c = 0; c < C; ++c) {
          const __m512i xv = _mm512_loadu_si512(x[c] + b * 256 + 64 * s);
          for (int r = 0; r < R; ++r) detail::dpbusd(acc[r][c], u[r], xv);
        }
      }
    }
    detail::store_tile_sums(acc, out);
  }
}

}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels

#endif  // TERN_KERNELS_X86
