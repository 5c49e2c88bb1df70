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
      if constexpr (C == 1) _mm_prefetch(reinterpret_cast<const char*>(w[r] + (b + prefetch_blocks) * 64), _MM_HINT_T0);
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
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) out[r * C + c] = detail::hsum(acc[r][c]);
}

template <int R, int C>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) inline void dot_tile(
    avx512vnni, const std::uint8_t* const* w, const std::int8_t* const* x, index nblocks, std::int32_t* out) {
  if constexpr (C == 1) {
    constexpr index chunk = 4096;
    __m512i total[R];
    for (int r = 0; r < R; ++r) total[r] = _mm512_setzero_si512();
    for (index b0 = 0; b0 < nblocks; b0 += chunk) {
      const index b1 = std::min(nblocks, b0 + chunk);
      __m512i a[R][4];
      for (int r = 0; r < R; ++r)
        for (int s = 0; s < 4; ++s) a[r][s] = _mm512_setzero_si512();
      for (index b = b0; b < b1; ++b) {
        const __m512i x0 = _mm512_loadu_si512(x[0] + b * 256), x1 = _mm512_loadu_si512(x[0] + b * 256 + 64),
                      x2 = _mm512_loadu_si512(x[0] + b * 256 + 128), x3 = _mm512_loadu_si512(x[0] + b * 256 + 192);
        for (int r = 0; r < R; ++r) {
          _mm_prefetch(reinterpret_cast<const char*>(w[r] + (b + prefetch_blocks) * 64), _MM_HINT_T0);
          const __m512i wv = _mm512_loadu_si512(w[r] + b * 64);
          a[r][0] = _mm512_dpbusd_epi32(a[r][0], _mm512_and_si512(wv, _mm512_set1_epi8(0x03)), x0);
          a[r][1] = _mm512_dpbusd_epi32(a[r][1], _mm512_and_si512(wv, _mm512_set1_epi8(0x0c)), x1);
          a[r][2] = _mm512_dpbusd_epi32(a[r][2], _mm512_and_si512(wv, _mm512_set1_epi8(0x30)), x2);
          a[r][3] = _mm512_dpbusd_epi32(a[r][3], _mm512_and_si512(wv, _mm512_set1_epi8(char(0xc0))), x3);
        }
      }
      for (int r = 0; r < R; ++r) {
        const __m512i s01 = _mm512_add_epi32(a[r][0], _mm512_srai_epi32(a[r][1], 2));
        const __m512i s23 = _mm512_add_epi32(_mm512_srai_epi32(a[r][2], 4), _mm512_srai_epi32(a[r][3], 6));
        total[r] = _mm512_add_epi32(total[r], _mm512_add_epi32(s01, s23));
      }
    }
    for (int r = 0; r < R; ++r) out[r] = detail::hsum(total[r]);
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
          for (int r = 0; r < R; ++r) acc[r][c] = _mm512_dpbusd_epi32(acc[r][c], u[r], xv);
        }
      }
    }
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) out[r * C + c] = detail::hsum(acc[r][c]);
  }
}

}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels

#endif  // TERN_KERNELS_X86
