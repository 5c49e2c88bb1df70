#pragma once
// AMX-INT8 GEMM for the 2-bit format (tag `amx`, tokens > 1). Specification:
// kernels/reference.hpp. The hardware instructions have NOT RUN: the machine it was written on
// hides AMX from its VM. The kernel's logic (A unpack, B VNNI packing, tile loop, groups, tails,
// offset correction, epilogue) is tested against the reference under the emulated tile unit
// (amx_tile_emulator.hpp, a model of the six tile instructions written from Intel's
// pseudo-code); what that cannot show (the instructions themselves, the XTILEDATA permission
// request, speed) stays unverified until the kernel tests pass on an AMX machine (Sapphire
// Rapids or later, Linux >= 5.16).
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
//
// The six tile operations go through a tile-unit policy (amx_part<Tiles>): amx_hardware_tiles
// below, the intrinsics, is the one run_amx uses; amx_emulated_tiles is the tests' model.
// Tile geometry (palette 1): 16 rows of 64 bytes; a 64-weight chunk is one slice of a block.
#include "tern/kernels/detail/common.hpp"

#include <algorithm>
#include <cstdint>
#include <stdexcept>

#include "tern/core/matrix.hpp"
#include "tern/kernels/arch.hpp"
#include "tern/kernels/packed_ternary.hpp"
#include "tern/kernels/quantized_activations.hpp"
#include "tern/kernels/reference.hpp"
#include "tern/kernels/detail/tile_epilogue.hpp"

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
  const index tiles = (x.tokens() + 15) / 16, chunks = x.layout().padded_k() / k_layout::block_bytes;
  aligned_buffer<std::int8_t> b(static_cast<std::size_t>(tiles * chunks * 1024));
  for (index n = 0; n < x.tokens(); ++n) {
    const std::int8_t* src = x.token(n);
    const index tile = n / 16, col = n % 16;
    for (index kc = 0; kc < chunks; ++kc)
      for (index q = 0; q < 16; ++q)
        for (index e = 0; e < 4; ++e)
          b[static_cast<std::size_t>(((tile * chunks + kc) * 16 + q) * 64 + 4 * col + e)] = src[64 * kc + 4 * q + e];
  }
  return b;
}

// GCC's tile intrinsics paste the tile number into the instruction text (#dst), so each number
// must be a literal: these pick the literal for a template argument at compile time.
#define TERN_AMX_ON_TILE(t, op, ...)                                               \
  if constexpr (t == 0) op(0 __VA_OPT__(, ) __VA_ARGS__);                          \
  else if constexpr (t == 1) op(1 __VA_OPT__(, ) __VA_ARGS__);                     \
  else if constexpr (t == 2) op(2 __VA_OPT__(, ) __VA_ARGS__);                     \
  else if constexpr (t == 3) op(3 __VA_OPT__(, ) __VA_ARGS__);                     \
  else if constexpr (t == 4) op(4 __VA_OPT__(, ) __VA_ARGS__);                     \
  else if constexpr (t == 5) op(5 __VA_OPT__(, ) __VA_ARGS__);                     \
  else if constexpr (t == 6) op(6 __VA_OPT__(, ) __VA_ARGS__);                     \
  else op(7 __VA_OPT__(, ) __VA_ARGS__)
// The accumulator tile of dpbusd is one of tmm0-3 (the kernel's roles): only those four literals
// are spelled, so no instruction text names one tile twice (clang checks every spelled call).
#define TERN_AMX_ON_C_TILE(t, op)    \
  if constexpr (t == 0) op(0);       \
  else if constexpr (t == 1) op(1);  \
  else if constexpr (t == 2) op(2);  \
  else op(3)
#define TERN_AMX_DP_B(c, a) \
  if constexpr (B == 6) _tile_dpbusd(c, a, 6); \
  else _tile_dpbusd(c, a, 7)
#define TERN_AMX_DP_A(c, ...)                    \
  do {                                           \
    if constexpr (A == 4) { TERN_AMX_DP_B(c, 4); } \
    else { TERN_AMX_DP_B(c, 5); }                \
  } while (0)

/// The tile unit run_amx uses: the AMX instructions themselves, through GCC's intrinsics. Every
/// member is always inlined into amx_part, and every tile number is a compile-time literal:
/// no overhead over calling the intrinsics directly.
struct amx_hardware_tiles {
  [[gnu::always_inline, gnu::target("amx-tile")]] void load_config(const amx_tile_config& c) {
    _tile_loadconfig(&c);
  }
  [[gnu::always_inline, gnu::target("amx-tile")]] void release() { _tile_release(); }
  template <int T>
  [[gnu::always_inline, gnu::target("amx-tile")]] void zero() {
    static_assert(T >= 0 && T < 8);
    TERN_AMX_ON_TILE(T, _tile_zero);
  }
  template <int T>
  [[gnu::always_inline, gnu::target("amx-tile")]] void load(const void* base, index stride) {
    static_assert(T >= 0 && T < 8);
    TERN_AMX_ON_TILE(T, _tile_loadd, base, stride);
  }
  template <int T>
  [[gnu::always_inline, gnu::target("amx-tile")]] void store(void* base, index stride) {
    static_assert(T >= 0 && T < 8);
    TERN_AMX_ON_TILE(T, _tile_stored, base, stride);
  }
  /// C += A . B; this unit provides C in tmm0-3, A in tmm4-5, B in tmm6-7 (the kernel's roles).
  template <int C, int A, int B>
  [[gnu::always_inline, gnu::target("amx-tile,amx-int8")]] void dpbusd() {
    static_assert(C >= 0 && C < 4 && (A == 4 || A == 5) && (B == 6 || B == 7),
                  "amx_hardware_tiles::dpbusd: C in tmm0-3, A in tmm4-5, B in tmm6-7");
    TERN_AMX_ON_C_TILE(C, TERN_AMX_DP_A);
  }
};
#undef TERN_AMX_DP_A
#undef TERN_AMX_DP_B
#undef TERN_AMX_ON_TILE
#undef TERN_AMX_ON_C_TILE

/// Row tiles of part `part` of `parts`, all tokens, on tile unit `tiles` (amx_hardware_tiles
/// in production). Tile roles: C in tmm0 and tmm1, A in tmm4, B in tmm6 and tmm7. The target
/// attribute only allows AMX code: the compiler emits tile instructions solely for the
/// intrinsics, so the emulated instantiation runs on any AVX-512BW CPU.
template <class Tiles>
__attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl"))) inline void amx_part(
    Tiles& tiles, const packed_ternary& w, const quantized_activations& x, const std::int8_t* bt, float* y,
    accumulators* acc, index part, index parts) {
  constexpr index slices = packed_ternary::slices, bb = k_layout::block_bytes;
  const index m = w.rows(), n = x.tokens();
  const k_layout& l = w.layout();
  const index chunks = l.padded_k() / bb, chunks_per_group = l.blocks_per_group * slices;
  const index row_tiles = (m + 15) / 16, token_tiles = (n + 15) / 16;
  const index t0 = row_tiles * part / parts, t1 = row_tiles * (part + 1) / parts;

  amx_tile_config cfg;
  for (int i = 0; i < 8; ++i) {
    cfg.rows[i] = 16;
    cfg.colsb[i] = 64;
  }
  tiles.load_config(cfg);
  aligned_buffer<std::uint8_t> a(static_cast<std::size_t>(chunks * 1024));
  alignas(64) std::int32_t c[2][16][16];
  const __m512i m3 = _mm512_set1_epi8(3);
  for (index t = t0; t < t1; ++t) {
    for (index r = 0; r < 16; ++r) {
      const std::uint8_t* src = w.row(std::min(16 * t + r, m - 1));
      for (index b = 0; b < chunks / slices; ++b) {
        const __m512i v = _mm512_loadu_si512(src + bb * b);
        for (int s = 0; s < slices; ++s)
          _mm512_storeu_si512(a.data() + ((slices * b + s) * 16 + r) * bb,
                              _mm512_and_si512(_mm512_srli_epi16(v, 2 * s), m3));
      }
    }
    for (index nt = 0; nt < token_tiles; nt += 2) {
      const bool two = nt + 1 < token_tiles;
      tile_epilogue<16, 16, packed_ternary> e[2] = {{w, x, 16 * t, 16 * nt}, {w, x, 16 * t, 16 * (two ? nt + 1 : nt)}};
      for (index g = 0; g < l.groups; ++g) {
        tiles.template zero<0>();
        tiles.template zero<1>();
        for (index kc = g * chunks_per_group; kc < (g + 1) * chunks_per_group; ++kc) {
          tiles.template load<4>(a.data() + kc * 1024, 64);
          tiles.template load<6>(bt + (nt * chunks + kc) * 1024, 64);
          tiles.template dpbusd<0, 4, 6>();
          if (two) {
            tiles.template load<7>(bt + ((nt + 1) * chunks + kc) * 1024, 64);
            tiles.template dpbusd<1, 4, 7>();
          }
        }
        tiles.template store<0>(&c[0][0][0], 64);
        if (two) tiles.template store<1>(&c[1][0][0], 64);
        for (int h = 0; h < (two ? 2 : 1); ++h) e[h].add_group(g, &c[h][0][0], acc);
      }
      if (y)
        for (int h = 0; h < (two ? 2 : 1); ++h) e[h].store(y);
    }
  }
  tiles.release();
}

/// The AMX GEMM algorithm over an executor on tile unit Tiles, one unit per part (tile state is
/// per thread). The caller has checked the operands and, for the hardware, the permission.
template <class Tiles, class Exec>
void run_amx_on(const packed_ternary& w, const quantized_activations& x, float* y, accumulators* acc, Exec& ex) {
  const aligned_buffer<std::int8_t> bt = amx_pack_activations(x);
  const index row_tiles = (w.rows() + 15) / 16;
  const index parts = std::max<index>(1, std::min<index>(ex.concurrency(), row_tiles));
  ex.parallel_for(parts, [&](index part) {
    Tiles tiles;
    amx_part(tiles, w, x, bt.data(), y, acc, part, parts);
  });
}

/// The AMX GEMM over an executor (the caller has checked the operands): the hardware tiles.
template <class Exec>
void run_amx(const packed_ternary& w, const quantized_activations& x, float* y, accumulators* acc, Exec& ex) {
  if (!amx_permission())
    throw std::runtime_error("tern::kernels: the OS refused AMX tile data (arch_prctl XTILEDATA)");
  run_amx_on<amx_hardware_tiles>(w, x, y, acc, ex);
}

}  // namespace detail
}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels

#endif  // TERN_KERNELS_X86
