#pragma once
// AMX-INT8 GEMM for the 2-bit format (tag `amx`, tokens > 1). Specification:
// kernels/reference.hpp. WRITTEN AND COMPILED, NEVER RUN: the machine it was written on hides
// AMX from its VM, so the tests skip this path with a WARN. Treat as unverified until the
// kernel tests pass on an AMX machine (Sapphire Rapids or later, Linux >= 5.16).
//
// tdpbusd tmm_c, tmm_a, tmm_b: C (16 x 16 int32) += A (16 rows x 64 u8) . B (16 x 64 s8 in the
// VNNI layout B[q][4 n + e] = x[n][4 q + e]).
//   A = 16 weight rows of unpacked codes c = w + 1 for one 64-weight chunk: chunk 4b + s of a
//       row is exactly slice s of block b, (byte >> 2s) & 3 over the block's 64 bytes, so a row
//       tile is unpacked once (16 x padded_k bytes) and reused for every token tile.
//   B = 16 tokens x 64 activations, re-laid out once per call (amx_pack_activations).
//   Offset correction as in every path: acc = C - sums(n, g).
// Two C tiles (tmm0, tmm1) share each A tile (tmm4) across 32 tokens; B tiles are tmm6, tmm7.
// Tile state is per thread: each part loads the configuration and releases it. The Linux
// permission request (arch_prctl ARCH_REQ_XCOMP_PERM, XTILEDATA) is made by amx_permission().
#include <algorithm>
#include <cstdint>
#include <stdexcept>

#include "tern/core/matrix.hpp"
#include "tern/kernels/arch.hpp"
#include "tern/kernels/packed_ternary.hpp"
#include "tern/kernels/quantized_activations.hpp"
#include "tern/kernels/reference.hpp"

#if TERN_KERNELS_X86
#include <immintrin.h>

namespace tern::kernels {
inline namespace TERN_KERNELS_ABI {
namespace detail {

/// The 64-byte LDTILECFG operand, palette 1.
struct amx_tile_config {
  std::uint8_t palette_id = 1;
  std::uint8_t start_row = 0;
  std::uint8_t reserved[14] = {};
  std::uint16_t colsb[16] = {};
  std::uint8_t rows[16] = {};
};
static_assert(sizeof(amx_tile_config) == 64);

/// B tiles for every (token tile of 16, chunk of 64 k): 1 KiB each, tokens past N are zero.
inline aligned_buffer<std::int8_t> amx_pack_activations(const quantized_activations& x) {
  const index tiles = (x.tokens + 15) / 16, chunks = x.layout.padded_k() / 64;
  aligned_buffer<std::int8_t> b(static_cast<std::size_t>(tiles * chunks * 1024));
  for (index n = 0; n < x.tokens; ++n) {
    const std::int8_t* src = x.token(n);
    const index tile = n / 16, col = n % 16;
    for (index kc = 0; kc < chunks; ++kc)
      for (index q = 0; q < 16; ++q)
        for (index e = 0; e < 4; ++e)
          b[static_cast<std::size_t>(((tile * chunks + kc) * 16 + q) * 64 + 4 * col + e)] = src[64 * kc + 4 * q + e];
  }
  return b;
}

/// Row tiles of part `part` of `parts`, all tokens.
__attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl"))) inline void amx_part(
    const packed_ternary& w, const quantized_activations& x, const std::int8_t* bt, float* y, accumulators* acc,
    index part, index parts) {
  const index m = w.rows(), n = x.tokens;
  const k_layout& l = w.layout();
  const index chunks = l.padded_k() / 64, chunks_per_group = l.blocks_per_group * 4;
  const index row_tiles = (m + 15) / 16, token_tiles = (n + 15) / 16;
  const index t0 = row_tiles * part / parts, t1 = row_tiles * (part + 1) / parts;

  amx_tile_config cfg;
  for (int i = 0; i < 8; ++i) {
    cfg.rows[i] = 16;
    cfg.colsb[i] = 64;
  }
  _tile_loadconfig(&cfg);
  aligned_buffer<std::uint8_t> a(static_cast<std::size_t>(chunks * 1024));
  alignas(64) std::int32_t c[2][16][16];
  const __m512i m3 = _mm512_set1_epi8(3);
  for (index t = t0; t < t1; ++t) {
    for (index r = 0; r < 16; ++r) {
      const std::uint8_t* src = w.row(std::min(16 * t + r, m - 1));
      for (index b = 0; b < chunks / 4; ++b) {
        const __m512i v = _mm512_loadu_si512(src + 64 * b);
        for (int s = 0; s < 4; ++s)
          _mm512_storeu_si512(a.data() + ((4 * b + s) * 16 + r) * 64, _mm512_and_si512(_mm512_srli_epi16(v, 2 * s), m3));
      }
    }
    for (index nt = 0; nt < token_tiles; nt += 2) {
      const bool two = nt + 1 < token_tiles;
      float f[2][16][16] = {};
      for (index g = 0; g < l.groups; ++g) {
        _tile_zero(0);
        _tile_zero(1);
        for (index kc = g * chunks_per_group; kc < (g + 1) * chunks_per_group; ++kc) {
          _tile_loadd(4, a.data() + kc * 1024, 64);
          _tile_loadd(6, bt + (nt * chunks + kc) * 1024, 64);
          _tile_dpbusd(0, 4, 6);
          if (two) {
            _tile_loadd(7, bt + ((nt + 1) * chunks + kc) * 1024, 64);
            _tile_dpbusd(1, 4, 7);
          }
        }
        _tile_stored(0, &c[0][0][0], 64);
        if (two) _tile_stored(1, &c[1][0][0], 64);
        for (int h = 0; h < (two ? 2 : 1); ++h)
          for (index r = 0; r < 16 && 16 * t + r < m; ++r)
            for (index k = 0; k < 16 && 16 * (nt + h) + k < n; ++k) {
              const index i = 16 * t + r, tok = 16 * (nt + h) + k;
              const std::int32_t v = c[h][r][k] - x.sum(tok, g);
              if (acc) (*acc)(tok, i, g) = v;
              f[h][r][k] += float(v) * w.scale(i, g);
            }
      }
      if (y)
        for (int h = 0; h < (two ? 2 : 1); ++h)
          for (index r = 0; r < 16 && 16 * t + r < m; ++r)
            for (index k = 0; k < 16 && 16 * (nt + h) + k < n; ++k) {
              const index tok = 16 * (nt + h) + k;
              y[tok * m + 16 * t + r] = f[h][r][k] * x.scale[static_cast<std::size_t>(tok)];
            }
    }
  }
  _tile_release();
}

/// The AMX GEMM over an executor (the caller has checked the operands).
template <class Exec>
void run_amx(const packed_ternary& w, const quantized_activations& x, float* y, accumulators* acc, Exec& ex) {
  if (!amx_permission())
    throw std::runtime_error("tern::kernels: the OS refused AMX tile data (arch_prctl XTILEDATA)");
  const aligned_buffer<std::int8_t> bt = amx_pack_activations(x);
  const index row_tiles = (w.rows() + 15) / 16;
  const index parts = std::max<index>(1, std::min<index>(ex.concurrency(), row_tiles));
  ex.parallel_for(parts, [&](index part) { amx_part(w, x, bt.data(), y, acc, part, parts); });
}

}  // namespace detail
}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels

#endif  // TERN_KERNELS_X86
