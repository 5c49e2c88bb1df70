#pragma once
// AVX-512BW micro-kernels (tag `avx512bw`), every format, and what the AVX-512 files share (the
// decoders, the lane reductions). Specification: kernels/reference.hpp; contract:
// kernels/detail/common.hpp.
//
// The AVX2 scheme on one 64-byte block per load: u8 codes u, vpmaddubsw(u, x) (|.| <= 512), the
// slices of a block summed in int16 (<= 5 x 512 = 2560), vpmaddwd with ones into int32.
// Decoders (shared with avx512vnni's generic tiles):
//   tq2: u = (w >> 2t) & 3.
//   tq1: unsigned compares of m_t against 85 and 170 into k-masks, a zero-masked and a
//        merge-masked move build c in {0, 1, 2}; m_{t+1} = m + m + m (two byte adds): 6 ops.
// Function-level target attributes: present in every x86 build, called only when the CPU can.
#include "tern/kernels/detail/common.hpp"

#include <cstdint>

#include "tern/core/matrix.hpp"
#include "tern/kernels/detail/avx2.hpp"
#include "tern/kernels/packed_ternary.hpp"
#include "tern/kernels/packed_ternary_base3.hpp"

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

namespace avx512_isa {
template <class W>
struct decoder;

template <>
struct decoder<packed_ternary> {
  static constexpr int slices = 4, sign = 1;
  using state = __m512i;
  [[gnu::always_inline, gnu::target("avx512f,avx512bw,avx512vl")]] static state load(const std::uint8_t* p) {
    return _mm512_loadu_si512(p);
  }
  [[gnu::always_inline, gnu::target("avx512f,avx512bw,avx512vl")]] static __m512i slice(const state& w, int t) {
    return _mm512_and_si512(_mm512_srli_epi16(w, 2 * t), _mm512_set1_epi8(3));
  }
};

template <>
struct decoder<packed_ternary_base3> {
  static constexpr int slices = 5, sign = 1;
  using state = __m512i;  // m_t
  [[gnu::always_inline, gnu::target("avx512f,avx512bw,avx512vl")]] static state load(const std::uint8_t* p) {
    return _mm512_loadu_si512(p);
  }
  [[gnu::always_inline, gnu::target("avx512f,avx512bw,avx512vl")]] static __m512i slice(state& m, int t) {
    const __mmask64 k1 = _mm512_cmpgt_epu8_mask(m, _mm512_set1_epi8(85));
    const __mmask64 k2 = _mm512_cmpgt_epu8_mask(m, _mm512_set1_epi8(char(170)));
    const __m512i u = _mm512_mask_mov_epi8(_mm512_maskz_mov_epi8(k1, _mm512_set1_epi8(1)), k2, _mm512_set1_epi8(2));
    if (t + 1 < slices) m = _mm512_add_epi8(m, _mm512_add_epi8(m, m));
    return u;
  }
};
}  // namespace avx512_isa

/// The AVX-512BW tile loop, every format.
template <int R, int C, class T, class W>
__attribute__((target("avx512f,avx512bw,avx512vl"))) inline void dot_tile(avx512bw, format_tag<W>,
                                                                           const std::uint8_t* const* w,
                                                                           const std::int8_t* const* x,
                                                                           index nblocks, std::int32_t* out) {
  using D = avx512_isa::decoder<W>;
  constexpr index bw = W::block_weights, bb = k_layout::block_bytes;
  static_assert(D::slices * 512 <= 32767, "int16 partial sums of one block must not saturate");
  __m512i acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_si512();
  const __m512i ones = _mm512_set1_epi16(1);
  for (index b = 0; b < nblocks; ++b) {
    typename D::state st[R];
    __m512i part[R][C];
    for (int r = 0; r < R; ++r) {
      if constexpr (C == 1) prefetch_weights<T>(w[r], b);
      st[r] = D::load(w[r] + b * bb);
      for (int c = 0; c < C; ++c) part[r][c] = _mm512_setzero_si512();
    }
    for (int t = 0; t < D::slices; ++t) {
      __m512i u[R];
      for (int r = 0; r < R; ++r) u[r] = D::slice(st[r], t);
      for (int c = 0; c < C; ++c) {
        const __m512i xv = _mm512_loadu_si512(x[c] + b * bw + bb * t);
        for (int r = 0; r < R; ++r) part[r][c] = _mm512_add_epi16(part[r][c], _mm512_maddubs_epi16(u[r], xv));
      }
    }
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) acc[r][c] = _mm512_add_epi32(acc[r][c], _mm512_madd_epi16(part[r][c], ones));
  }
  store_tile_sums(acc, out);
}

}  // namespace detail
}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels

#endif  // TERN_KERNELS_X86
