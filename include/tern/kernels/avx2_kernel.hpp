#pragma once
// AVX2 micro-kernel (tag `avx2`). Specification: kernels/reference.hpp; contract of dot_tile:
// kernels/generic_kernel.hpp.
//
// Per 32 packed bytes and slice s: codes u = (w >> 2s) & 3 (u8), vpmaddubsw(u, x) gives int16
// pairs u0 x0 + u1 x1, |.| <= 2 * 2 * 128 = 512; the 4 slices are summed in int16 (<= 2048, no
// saturation), then vpmaddwd with ones widens to int32. So no int16 overflow at any K.
// Compiled with a function-level target attribute: present in every x86 build, called only
// when the CPU has AVX2 (compile-time best_arch or run-time cpu_supports).
#include <cstdint>

#include "tern/core/matrix.hpp"
#include "tern/kernels/arch.hpp"

#if TERN_KERNELS_X86
#include <immintrin.h>

namespace tern::kernels {
inline namespace TERN_KERNELS_ABI {

/// Software prefetch distances of the GEMV (C = 1) loops, in 64-byte blocks ahead of the block
/// being read in each row. Rows of a packed matrix are contiguous, so these run ahead in the
/// weight stream (crossing into later rows). Two levels: a far prefetch into L2 (T2, 64 KiB
/// ahead, several us of DRAM time: it keeps enough lines in flight to cover the DRAM latency,
/// through the L2's request queue) and a near one into L1 (T0, 8 KiB ahead, which then mostly
/// hits L2). On the benchmark machine: no prefetch ~50-60 % of the plain read rate, the near one
/// alone ~88 %, both ~100 % (docs/kernels.md).
inline constexpr index prefetch_blocks = 128;
inline constexpr index prefetch_far_blocks = 1024;

namespace detail {
/// The GEMV prefetches of block b of a weight row (both distances, see above).
inline void prefetch_weights(const std::uint8_t* row, index b) {
  _mm_prefetch(reinterpret_cast<const char*>(row + (b + prefetch_far_blocks) * 64), _MM_HINT_T2);
  _mm_prefetch(reinterpret_cast<const char*>(row + (b + prefetch_blocks) * 64), _MM_HINT_T0);
}

/// Sum of the 8 int32 lanes of v (the end of every AVX2 tile, tq2 and tq1).
__attribute__((target("avx2"))) inline std::int32_t hsum(__m256i v) {
  __m128i h = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
  h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
  return _mm_cvtsi128_si32(h);
}
}  // namespace detail

template <int R, int C>
__attribute__((target("avx2,fma"))) inline void dot_tile(avx2, const std::uint8_t* const* w,
                                                         const std::int8_t* const* x, index nblocks,
                                                         std::int32_t* out) {
  __m256i acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_si256();
  const __m256i m3 = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
  for (index b = 0; b < nblocks; ++b) {
    if constexpr (C == 1)
      for (int r = 0; r < R; ++r) detail::prefetch_weights(w[r], b);
    for (int h = 0; h < 64; h += 32) {
      __m256i wv[R], part[R][C];
      for (int r = 0; r < R; ++r) {
        wv[r] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[r] + b * 64 + h));
        for (int c = 0; c < C; ++c) part[r][c] = _mm256_setzero_si256();
      }
      for (int s = 0; s < 4; ++s) {
        __m256i u[R];
        for (int r = 0; r < R; ++r) u[r] = _mm256_and_si256(_mm256_srli_epi16(wv[r], 2 * s), m3);
        for (int c = 0; c < C; ++c) {
          const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[c] + b * 256 + 64 * s + h));
          for (int r = 0; r < R; ++r) part[r][c] = _mm256_add_epi16(part[r][c], _mm256_maddubs_epi16(u[r], xv));
        }
      }
      for (int r = 0; r < R; ++r)
        for (int c = 0; c < C; ++c) acc[r][c] = _mm256_add_epi32(acc[r][c], _mm256_madd_epi16(part[r][c], ones));
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) out[r * C + c] = detail::hsum(acc[r][c]);
}

}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels

#endif  // TERN_KERNELS_X86
