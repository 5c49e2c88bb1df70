#pragma once
// Micro-kernels of the base-3 format (packed_ternary_base3, "tq1"). Specification:
// kernels/reference.hpp with packed_ternary_base3::code(); contract as dot_tile in
// generic_kernel.hpp, with 320-weight blocks (64 bytes, 5 trits per byte).
//
// Decoding (both paths): m_0 = byte, c_t = [m_t >= 86] + [m_t >= 171], m_{t+1} = 3 m_t mod 256.
// generic:     scalar (portable; also what avx2 / avx512bw fall back to for this format).
// avx512vnni:  m_{t+1} = m + m + m with byte adds, the two compares give k-masks, the code is
//              built with one zero-masked and one merge-masked move (0 / 1 / 2), then vpdpbusd
//              as in tq2 (offset correction by the caller). 6 vector ops of decode per 64
//              weights and row, shared by the C tokens of a GEMM tile.
#include <algorithm>
#include <cstdint>

#include "tern/core/matrix.hpp"
#include "tern/kernels/arch.hpp"
#include "tern/kernels/avx2_kernel.hpp"
#include "tern/kernels/avx512_kernel.hpp"

#if TERN_KERNELS_X86
#include <immintrin.h>
#endif

namespace tern::kernels {
inline namespace TERN_KERNELS_ABI {

template <int R, int C>
inline void dot_tile_b3(generic, const std::uint8_t* const* w, const std::int8_t* const* x, index nblocks,
                        std::int32_t* out) {
  std::int32_t acc[R * C] = {};
  for (index b = 0; b < nblocks; ++b)
    for (int j = 0; j < 64; ++j)
      for (int r = 0; r < R; ++r) {
        unsigned m = w[r][b * 64 + j];
        for (int t = 0; t < 5; ++t) {
          const int c = int(m >= 86) + int(m >= 171);
          for (int k = 0; k < C; ++k) acc[r * C + k] += c * x[k][b * 320 + 64 * t + j];
          m = (m * 3) & 0xff;
        }
      }
  for (int i = 0; i < R * C; ++i) out[i] = acc[i];
}

#if TERN_KERNELS_X86
template <int R, int C>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) inline void dot_tile_b3(
    avx512vnni, const std::uint8_t* const* w, const std::int8_t* const* x, index nblocks, std::int32_t* out) {
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
      if constexpr (C == 1) _mm_prefetch(reinterpret_cast<const char*>(w[r] + (b + prefetch_blocks) * 64), _MM_HINT_T0);
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
  __m512i flat[R * C];  // a copy: taking acc's address would keep it in memory
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) flat[r * C + c] = acc[r][c];
  detail::hsum_n(flat, R * C, out);
}
#endif

}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels
