#pragma once
// Ternary GEMV / GEMM: y = x W^T with W packed ternary (M x K) and x int8 per token (N x K).
// Specification (one jump away): kernels/reference.hpp, gemm_acc_ref / gemm_ref.
//
//   acc(n, i, g) = sum_{j in group g} w(i, j) xq(n, j)
//               = dot_tile(c = w + 1, xq) - sums(n, g)         (offset correction)
//   y(n, i)      = (sum_g float(acc(n, i, g)) * beta(i, g)) * s_n
//
// Composition (CuTe's three layers): the raw instruction lives in the per-architecture
// dot_tile overloads (generic_kernel.hpp, avx2_kernel.hpp, avx512_kernel.hpp, neon_kernel.hpp; dot_tile_b3 in
// base3_kernel.hpp for tq1; amx_kernel.hpp is a whole-GEMM path); their tile shapes are
// tile_shape<Arch>; this file composes them: rows cut into R-row tiles (split evenly over the
// executor's threads) walked in L2-sized row blocks, tokens in C-token tiles that stay in L1,
// one dot_tile call per (row tile, token tile, group) so each unpacked weight vector is reused
// for C tokens. Row and token tails reuse the last valid row/token and drop the extra results.
//
// Calling:
//   auto y = gemm(w, x);                         // best_arch of this translation unit
//   (w: packed_ternary or packed_ternary_base3; x: quantize_activations(x, w.layout()))
//   auto y = gemm(w, x, avx512vnni{}, pool);     // a given path and executor
//   auto y = gemm(w, x, detect_path(), pool);    // run-time dispatch (checks cpu_supports)
#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "tern/core/matrix.hpp"
#include "tern/kernels/amx_kernel.hpp"
#include "tern/kernels/arch.hpp"
#include "tern/kernels/avx2_kernel.hpp"
#include "tern/kernels/avx512_kernel.hpp"
#include "tern/kernels/base3_kernel.hpp"
#include "tern/kernels/executor.hpp"
#include "tern/kernels/generic_kernel.hpp"
#include "tern/kernels/neon_kernel.hpp"
#include "tern/kernels/packed_ternary.hpp"
#include "tern/kernels/packed_ternary_base3.hpp"
#include "tern/kernels/quantized_activations.hpp"
#include "tern/kernels/reference.hpp"

namespace tern::kernels {
inline namespace TERN_KERNELS_ABI {

/// Tile shapes per path: rows per GEMV tile; rows x tokens per GEMM tile (register budget).
template <class Arch>
struct tile_shape {
  static constexpr int gemv_rows = 4, gemm_rows = 2, gemm_cols = 2;
};
template <>
struct tile_shape<avx512bw> {
  static constexpr int gemv_rows = 4, gemm_rows = 2, gemm_cols = 4;
};
template <>
struct tile_shape<avx512vnni> {
  static constexpr int gemv_rows = 16, gemm_rows = 3, gemm_cols = 8;
};
template <>
struct tile_shape<amx> : tile_shape<avx512vnni> {};

/// Tile shapes per (path, format): the base-3 decode needs more registers per row, so its
/// GEMV tile has fewer rows, and its VNNI GEMM tile stays 2 x 8 (its decode temporaries do not
/// fit next to 24 accumulators).
template <class Arch, class W>
struct format_tile_shape : tile_shape<Arch> {};
template <class Arch>
struct format_tile_shape<Arch, packed_ternary_base3> : tile_shape<Arch> {
  static constexpr int gemv_rows = 4;
};
template <>
struct format_tile_shape<avx512vnni, packed_ternary_base3> : tile_shape<avx512vnni> {
  static constexpr int gemv_rows = 4, gemm_rows = 2;
};

/// Bytes of packed weights per row block: a block stays in L2 while every token tile passes.
inline constexpr index l2_weight_bytes = 512 * 1024;

template <class Arch>
concept kernel_arch = std::is_base_of_v<generic, Arch> || std::is_same_v<Arch, reference>;

namespace detail {

/// The micro-kernel of format W on path Arch.
template <class W, int R, int C, class Arch>
void format_tile(Arch a, const std::uint8_t* const* w, const std::int8_t* const* x, index nblocks, std::int32_t* out) {
  if constexpr (std::is_same_v<W, packed_ternary_base3>)
    dot_tile_b3<R, C>(a, w, x, nblocks, out);
  else
    dot_tile<R, C>(a, w, x, nblocks, out);
}

/// Row tiles of part `part` of `parts`: the heavy code, instantiated once per (Arch, R, C, W)
/// whatever the executor type (keeps compile time down).
template <class Arch, int R, int C, class W>
void run_part(const W& w, const quantized_activations& x, float* y, accumulators* acc, index part,
              index parts) {
  const index m = w.rows(), n = x.tokens;
  const k_layout& l = w.layout();
  const index row_tiles = (m + R - 1) / R;
  const index t0 = row_tiles * part / parts, t1 = row_tiles * (part + 1) / parts;
  // Row tiles in L2-sized blocks; inside a block, every C-token tile (whose activations stay in
  // L1) meets every row tile of the block (whose weights stay in L2).
  const index block_tiles = std::max<index>(1, l2_weight_bytes / (R * w.row_bytes()));
  for (index tb = t0; tb < t1; tb += block_tiles) {
    const index tb_end = std::min(t1, tb + block_tiles);
    for (index n0 = 0; n0 < n; n0 += C) {
      for (index t = tb; t < tb_end; ++t) {
        const index i0 = t * R;
        float f[R * C] = {};
        std::int32_t raw[R * C];
        // Epilogue operands for the whole tile (tails clamped like the pointers; their results
        // are computed and dropped): scale rows of the weights, per-group sums of the tokens.
        const float* srow[R];
        const std::int32_t* xsum[C];
        for (int r = 0; r < R; ++r)
          srow[r] = w.scales().data() + (w.scales().rows() == 1 ? 0 : std::min(i0 + r, m - 1)) * l.groups;
        for (int c = 0; c < C; ++c) xsum[c] = x.sums.data() + std::min(n0 + c, n - 1) * l.groups;
        for (index g = 0; g < l.groups; ++g) {
          const std::uint8_t* wp[R];
          const std::int8_t* xp[C];
          for (int r = 0; r < R; ++r) wp[r] = w.row(std::min(i0 + r, m - 1)) + g * (l.blocks_per_group * 64);
          for (int c = 0; c < C; ++c) xp[c] = x.token(std::min(n0 + c, n - 1)) + g * l.padded_group();
          format_tile<W, R, C>(Arch{}, wp, xp, l.blocks_per_group, raw);
          for (int r = 0; r < R; ++r)
            for (int c = 0; c < C; ++c) {
              raw[r * C + c] -= xsum[c][g];
              f[r * C + c] += float(raw[r * C + c]) * srow[r][g];
            }
          if (acc)
            for (int r = 0; r < R && i0 + r < m; ++r)
              for (int c = 0; c < C && n0 + c < n; ++c) (*acc)(n0 + c, i0 + r, g) = raw[r * C + c];
        }
        if (y)
          for (int r = 0; r < R && i0 + r < m; ++r)
            for (int c = 0; c < C && n0 + c < n; ++c)
              y[(n0 + c) * m + i0 + r] = f[r * C + c] * x.scale[static_cast<std::size_t>(n0 + c)];
      }
    }
  }
}

template <class Arch, int R, int C, class W, class Exec>
void run_tiles(const W& w, const quantized_activations& x, float* y, accumulators* acc, Exec& ex) {
  const index row_tiles = (w.rows() + R - 1) / R;
  const index parts = std::max<index>(1, std::min<index>(ex.concurrency(), row_tiles));
  ex.parallel_for(parts, [&](index part) { run_part<Arch, R, C>(w, x, y, acc, part, parts); });
}

template <class Arch, class W, class Exec>
void run(const W& w, const quantized_activations& x, float* y, accumulators* acc, Exec& ex) {
  check_operands("tern::kernels::gemm", w, x);
  if constexpr (std::is_same_v<Arch, amx>) {
    // AMX kernel for tq2 GEMM only (unverified on hardware, see amx_kernel.hpp); GEMV and tq1
    // run the VNNI kernels.
    if constexpr (TERN_KERNELS_X86 && std::is_same_v<W, packed_ternary>) {
      if (x.tokens > 1) return run_amx(w, x, y, acc, ex);
    }
    run<avx512vnni>(w, x, y, acc, ex);
  } else if constexpr (std::is_same_v<Arch, reference>) {
    accumulators a = gemm_acc_ref(w, x);
    if (y) {
      const matrix<float> r = apply_scales(a, w, x);
      std::copy(r.data(), r.data() + r.size(), y);
    }
    if (acc) *acc = std::move(a);
  } else if (x.tokens == 1) {
    run_tiles<Arch, format_tile_shape<Arch, W>::gemv_rows, 1>(w, x, y, acc, ex);
  } else {
    run_tiles<Arch, format_tile_shape<Arch, W>::gemm_rows, format_tile_shape<Arch, W>::gemm_cols>(w, x, y, acc, ex);
  }
}

}  // namespace detail

/// y (tokens x rows) = dequantized x W^T on path Arch, into a preallocated y.
template <packed_weights W, kernel_arch Arch = best_arch, executor Exec = sequential_executor>
void gemm(const W& w, const quantized_activations& x, matrix<float>& y, Arch = {}, Exec&& ex = {}) {
  tern::detail::check_shape("tern::kernels::gemm", "y", y, x.tokens, w.rows());
  detail::run<Arch>(w, x, y.data(), nullptr, ex);
}

/// y (tokens x rows) = dequantized x W^T on path Arch.
template <packed_weights W, kernel_arch Arch = best_arch, executor Exec = sequential_executor>
matrix<float> gemm(const W& w, const quantized_activations& x, Arch a = {}, Exec&& ex = {}) {
  matrix<float> y(x.tokens, w.rows());
  gemm(w, x, y, a, ex);
  return y;
}

/// The int32 accumulators acc(n, i, g) on path Arch (what the tests compare bit for bit).
template <packed_weights W, kernel_arch Arch = best_arch, executor Exec = sequential_executor>
accumulators gemm_acc(const W& w, const quantized_activations& x, Arch = {}, Exec&& ex = {}) {
  accumulators acc(x.tokens, w.rows(), w.layout().groups);
  detail::run<Arch>(w, x, nullptr, &acc, ex);
  return acc;
}

/// Run-time dispatch: path p, which must be one this CPU runs (else std::invalid_argument).
template <packed_weights W, executor Exec = sequential_executor>
void gemm(const W& w, const quantized_activations& x, matrix<float>& y, path p, Exec&& ex = {}) {
  if (!cpu_supports(p))
    throw std::invalid_argument("tern::kernels::gemm: path " + std::string(path_name(p)) +
                                " is not supported by this CPU/OS");
  run_path(p, [&](auto arch) { gemm(w, x, y, arch, ex); });
}

template <packed_weights W, executor Exec = sequential_executor>
matrix<float> gemm(const W& w, const quantized_activations& x, path p, Exec&& ex = {}) {
  matrix<float> y(x.tokens, w.rows());
  gemm(w, x, y, p, ex);
  return y;
}

template <packed_weights W, executor Exec = sequential_executor>
accumulators gemm_acc(const W& w, const quantized_activations& x, path p, Exec&& ex = {}) {
  if (!cpu_supports(p))
    throw std::invalid_argument("tern::kernels::gemm_acc: path " + std::string(path_name(p)) +
                                " is not supported by this CPU/OS");
  return run_path(p, [&](auto arch) { return gemm_acc(w, x, arch, ex); });
}

}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels
