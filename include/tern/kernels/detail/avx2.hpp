#pragma once
// AVX2 micro-kernels (tag `avx2`), every format. Specification: kernels/reference.hpp;
// contract: kernels/detail/common.hpp.
//
// Per 32 packed bytes and slice t: u8 codes u from the format's decoder, vpmaddubsw(u, x) gives
// int16 pairs u0 x0 + u1 x1, |.| <= 2 * 2 * 128 = 512; the slices x 2 halves of one block are
// summed in int16 (<= 10 x 512 = 5120 for tq1, 4096 for tq2: no saturation), then vpmaddwd
// with ones widens to int32 once per block. So no int16 overflow at any K.
// Decoders:
//   tq2: u = (w >> 2t) & 3 (16-bit shift, then the byte mask).
//   tq1: AVX2 has no unsigned byte compare, so the bytes are biased, s = m ^ 0x80 = m + 128
//        (mod 256); the bias survives the recurrence (3 s = 3 m + 384 = 3 m + 128 mod 256), so
//        c = [m >= 86] + [m >= 171] is the signed vpcmpgtb of s against -43 and 42: two byte adds
//        (s + s + s), two compares (-1 / 0), c = |g1 + g2| (add, vpabsb): 6 ops per slice.
// The GEMV tiles (C = 1) software-prefetch the weight rows (prefetch_weights, the tuning's
// distances). Function-level target attributes: present in every x86 build, called only when
// the CPU has AVX2 (compile-time best_arch or run-time cpu_supports).
#include "tern/kernels/detail/common.hpp"

#include <cstdint>

#include "tern/core/matrix.hpp"
#include "tern/kernels/packed_ternary.hpp"
#include "tern/kernels/packed_ternary_base3.hpp"

#if TERN_KERNELS_X86
#include <immintrin.h>

namespace tern::kernels {
inline namespace TERN_KERNELS_ABI {
namespace detail {

/// The GEMV prefetches of block b of a weight row, T's two distances in blocks ahead (0: none):
/// a far one into L2 (T2) that keeps enough lines in flight to cover the DRAM latency and a
/// near one into L1 (T0) that then mostly hits L2. Rows of a packed matrix are contiguous, so
/// both run ahead in the weight stream (crossing into later rows).
template <class T>
[[gnu::always_inline]] inline void prefetch_weights(const std::uint8_t* row, index b) {
  if constexpr (T::prefetch_far_blocks > 0)
    _mm_prefetch(reinterpret_cast<const char*>(row + (b + T::prefetch_far_blocks) * k_layout::block_bytes),
                 _MM_HINT_T2);
  if constexpr (T::prefetch_near_blocks > 0)
    _mm_prefetch(reinterpret_cast<const char*>(row + (b + T::prefetch_near_blocks) * k_layout::block_bytes),
                 _MM_HINT_T0);
}

/// Sum of the 8 int32 lanes of v (the end of every AVX2 tile).
__attribute__((target("avx2"))) inline std::int32_t hsum(__m256i v) {
  __m128i h = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
  h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
  return _mm_cvtsi128_si32(h);
}

namespace avx2_isa {
inline constexpr int vector_bytes = 32;

template <class W>
struct decoder;

template <>
struct decoder<packed_ternary> {
  static constexpr int slices = 4, sign = 1;
  using state = __m256i;
  [[gnu::always_inline, gnu::target("avx2")]] static state load(const std::uint8_t* p) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  }
  [[gnu::always_inline, gnu::target("avx2")]] static __m256i slice(const state& w, int t) {
    return _mm256_and_si256(_mm256_srli_epi16(w, 2 * t), _mm256_set1_epi8(3));
  }
};

template <>
struct decoder<packed_ternary_base3> {
  static constexpr int slices = 5, sign = 1;
  using state = __m256i;  // s_t = m_t ^ 0x80
  [[gnu::always_inline, gnu::target("avx2")]] static state load(const std::uint8_t* p) {
    return _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), _mm256_set1_epi8(char(0x80)));
  }
  [[gnu::always_inline, gnu::target("avx2")]] static __m256i slice(state& s, int t) {
    const __m256i u = _mm256_abs_epi8(_mm256_add_epi8(_mm256_cmpgt_epi8(s, _mm256_set1_epi8(-43)),
                                                      _mm256_cmpgt_epi8(s, _mm256_set1_epi8(42))));
    if (t + 1 < slices) s = _mm256_add_epi8(s, _mm256_add_epi8(s, s));
    return u;
  }
};
}  // namespace avx2_isa

/// The AVX2 tile loop, every format. Out of line: inlined into the driver, GCC 12 spilled its
/// accumulator arrays (measured on Zen 4, 1 thread: GEMV tq2 +8 %, tq1 +20 %, GEMM N = 64 tq2
/// +20 % out of line; the AVX-512BW and xsimd loops measured faster inlined, so they stay so).
template <int R, int C, class T, class W>
__attribute__((target("avx2,fma"), noinline)) inline void dot_tile(avx2, format_tag<W>, const std::uint8_t* const* w,
                                                         const std::int8_t* const* x, index nblocks,
                                                         std::int32_t* out) {
  using namespace avx2_isa;
  using D = decoder<W>;
  constexpr index bw = W::block_weights, bb = k_layout::block_bytes;
  static_assert(D::slices * (bb / vector_bytes) * 512 <= 32767, "int16 partial sums of one block must not saturate");
  __m256i acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_si256();
  const __m256i ones = _mm256_set1_epi16(1);
  for (index b = 0; b < nblocks; ++b) {
    if constexpr (C == 1)
      for (int r = 0; r < R; ++r) prefetch_weights<T>(w[r], b);
    __m256i part[R][C];
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) part[r][c] = _mm256_setzero_si256();
    for (int h = 0; h < bb; h += vector_bytes) {
      typename D::state st[R];
      for (int r = 0; r < R; ++r) st[r] = D::load(w[r] + b * bb + h);
      for (int t = 0; t < D::slices; ++t) {
        __m256i u[R];
        for (int r = 0; r < R; ++r) u[r] = D::slice(st[r], t);
        for (int c = 0; c < C; ++c) {
          const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[c] + b * bw + bb * t + h));
          for (int r = 0; r < R; ++r) part[r][c] = _mm256_add_epi16(part[r][c], _mm256_maddubs_epi16(u[r], xv));
        }
      }
    }
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) acc[r][c] = _mm256_add_epi32(acc[r][c], _mm256_madd_epi16(part[r][c], ones));
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) out[r * C + c] = D::sign * hsum(acc[r][c]);
}

}  // namespace detail
}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels

#endif  // TERN_KERNELS_X86
