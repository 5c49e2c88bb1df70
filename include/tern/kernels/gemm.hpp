#pragma once
// Ternary GEMV / GEMM: y = x W^T with W packed ternary (M x K) and x int8 per token (N x K).
// Specification (one jump away): kernels/reference.hpp, gemm_acc_ref / gemm_ref.
//
//   acc(n, i, g) = sum_{j in group g} w(i, j) xq(n, j)
//               = dot_tile(c = w + 1, xq) - sum(n, g)          (offset correction)
//   y(n, i)      = (sum_g float(acc(n, i, g)) * beta(i, g)) * s_n
//
// Composition (CuTe's three layers): the raw instructions live in the per-ISA micro-kernels
// (kernels/detail/: one tile loop per ISA with a decoder per format, and named-accumulator tiles
// where they win), their shapes and per-CPU choices in kernels/tuning.hpp, and this file
// composes them: rows cut into R-row tiles (split evenly over the executor's threads) walked in
// L2-sized row blocks, tokens in C-token tiles that stay in L1, one dot_tile call per (row tile,
// token tile, group) so each unpacked weight vector is reused for C tokens. Row and token tails
// reuse the last valid row/token and drop the extra results. Every path ends in the same
// epilogue (offset correction, scales: tile_epilogue, on reference.hpp's add_group /
// finish_output).
//
// Dispatch, one rule on both axes: the path is an overload on the arch tag, the format an
// overload on detail::format_tag<W>; run(Arch, format_tag<W>, ...) picks the whole-product path
// (the reference, AMX for tq2 GEMM, else the tiles) and dot_tile(Arch, format_tag<W>, ...) the
// micro-kernel, the most derived tag with an overload winning.
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
#include "tern/kernels/arch.hpp"
#include "tern/kernels/executor.hpp"
#include "tern/kernels/packed_ternary.hpp"
#include "tern/kernels/packed_ternary_base3.hpp"
#include "tern/kernels/quantized_activations.hpp"
#include "tern/kernels/reference.hpp"
#include "tern/kernels/tuning.hpp"

#define TERN_KERNELS_DETAIL_INCLUDE
#include "tern/kernels/detail/tile_epilogue.hpp"
#include "tern/kernels/detail/generic.hpp"
#include "tern/kernels/detail/avx2.hpp"
#include "tern/kernels/detail/avx512bw.hpp"
#include "tern/kernels/detail/avx512vnni.hpp"
#include "tern/kernels/detail/amx.hpp"
#include "tern/kernels/detail/neon.hpp"
#undef TERN_KERNELS_DETAIL_INCLUDE

namespace tern::kernels {
inline namespace TERN_KERNELS_ABI {

/// A tag the products accept: a path tag of the generic chain, or the reference.
template <class Arch>
concept KernelArch = ArchTag<Arch> && (std::is_base_of_v<generic, Arch> || std::is_same_v<Arch, reference>);
/// KernelArch under its snake_case name, for callers written against it.
template <class Arch>
concept kernel_arch = KernelArch<Arch>;

namespace detail {

/// Row tiles of part `part` of `parts` on path Arch with tuning T: the heavy code, instantiated
/// once per (Arch, T, R, C, W) whatever the executor type (keeps compile time down).
template <class Arch, class T, int R, int C, class W>
void run_part(const W& w, const quantized_activations& x, float* y, accumulators* acc, index part, index parts) {
  const index m = w.rows(), n = x.tokens();
  const k_layout& l = w.layout();
  const index row_tiles = (m + R - 1) / R;
  const index t0 = row_tiles * part / parts, t1 = row_tiles * (part + 1) / parts;
  const index group_bytes = l.blocks_per_group * k_layout::block_bytes;
  // Row tiles in L2-sized blocks; inside a block, every C-token tile (whose activations stay in
  // L1) meets every row tile of the block (whose weights stay in L2).
  const index block_tiles = std::max<index>(1, T::l2_weight_bytes / (R * w.row_bytes()));
  for (index tb = t0; tb < t1; tb += block_tiles) {
    const index tb_end = std::min(t1, tb + block_tiles);
    for (index n0 = 0; n0 < n; n0 += C)
      for (index t = tb; t < tb_end; ++t) {
        const index i0 = t * R;
        tile_epilogue<R, C, W> e(w, x, i0, n0);
        for (index g = 0; g < l.groups; ++g) {
          const std::uint8_t* wp[R];
          const std::int8_t* xp[C];
          for (int r = 0; r < R; ++r) wp[r] = w.row(std::min(i0 + r, m - 1)) + g * group_bytes;
          for (int c = 0; c < C; ++c) xp[c] = x.token(std::min(n0 + c, n - 1)) + g * l.padded_group();
          std::int32_t raw[R * C];
          dot_tile<R, C, T>(Arch{}, format_tag<W>{}, wp, xp, l.blocks_per_group, raw);
          e.add_group(g, raw, acc);
        }
        if (y) e.store(y);
      }
  }
}

template <class Arch, class T, int R, int C, class W, class Exec>
void run_tiles(const W& w, const quantized_activations& x, float* y, accumulators* acc, Exec& ex) {
  const index row_tiles = (w.rows() + R - 1) / R;
  const index parts = std::max<index>(1, std::min<index>(ex.concurrency(), row_tiles));
  ex.parallel_for(parts, [&](index part) { run_part<Arch, T, R, C>(w, x, y, acc, part, parts); });
}

/// The tiled paths: every SIMD tag, every format, with the CPU's tuning.
template <class Arch, class W, class Exec>
void run(Arch a, format_tag<W>, const W& w, const quantized_activations& x, float* y, accumulators* acc, Exec& ex) {
  if (x.tokens() == 0) return;
  with_tuning(a, [&](auto tuning) {
    using T = decltype(tuning);
    using S = typename T::template shape<Arch, W>;
    if (x.tokens() == 1)
      run_tiles<Arch, T, S::gemv_rows, 1>(w, x, y, acc, ex);
    else
      run_tiles<Arch, T, S::gemm_rows, S::gemm_cols>(w, x, y, acc, ex);
  });
}

/// The specification, through the shared epilogue.
template <class W, class Exec>
void run(reference, format_tag<W>, const W& w, const quantized_activations& x, float* y, accumulators* acc, Exec&) {
  accumulators a = gemm_acc_ref(w, x);
  if (y) {
    const matrix<float> r = apply_scales(a, w, x);
    std::copy(r.data(), r.data() + r.size(), y);
  }
  if (acc) *acc = std::move(a);
}

#if TERN_KERNELS_X86
/// AMX: the tile kernel for tq2 GEMM (unverified on hardware, see detail/amx.hpp); GEMV runs
/// the VNNI tiles, and tq1 has no AMX overload (it runs the VNNI tiles through the one above).
template <class Exec>
void run(amx a, format_tag<packed_ternary> f, const packed_ternary& w, const quantized_activations& x, float* y,
         accumulators* acc, Exec& ex) {
  if (x.tokens() > 1) return run_amx(w, x, y, acc, ex);
  run(static_cast<avx512vnni>(a), f, w, x, y, acc, ex);
}
#endif

template <class Arch, class W, class Exec>
void product(const W& w, const quantized_activations& x, float* y, accumulators* acc, Exec& ex) {
  check_operands("tern::kernels::gemm", w, x);
  run(Arch{}, format_tag<W>{}, w, x, y, acc, ex);
}

}  // namespace detail

/// y (tokens x rows) = dequantized x W^T on path Arch, into a preallocated y. A tag runs what
/// its overloads compile to: use one only where the CPU has it (a `path` value is checked).
///   W     packed_ternary or packed_ternary_base3 (non-empty: std::invalid_argument otherwise)
///   Arch  a path tag (best_arch: the best this translation unit's flags allow)
///   Exec  an executor (executor.hpp)
template <PackedWeights W, KernelArch Arch = best_arch, executor Exec = sequential_executor>
void gemm(const W& w, const quantized_activations& x, matrix<float>& y, Arch = {}, Exec&& ex = {}) {
  tern::detail::check_shape("tern::kernels::gemm", "y", y, x.tokens(), w.rows());
  detail::product<Arch>(w, x, y.data(), nullptr, ex);
}

/// y (tokens x rows) = dequantized x W^T on path Arch.
template <PackedWeights W, KernelArch Arch = best_arch, executor Exec = sequential_executor>
matrix<float> gemm(const W& w, const quantized_activations& x, Arch a = {}, Exec&& ex = {}) {
  matrix<float> y(x.tokens(), w.rows());
  gemm(w, x, y, a, ex);
  return y;
}

/// The int32 accumulators acc(n, i, g) on path Arch (what the tests compare bit for bit).
template <PackedWeights W, KernelArch Arch = best_arch, executor Exec = sequential_executor>
accumulators gemm_acc(const W& w, const quantized_activations& x, Arch = {}, Exec&& ex = {}) {
  detail::check_operands("tern::kernels::gemm_acc", w, x);
  accumulators acc(x.tokens(), w.rows(), w.layout().groups);
  detail::product<Arch>(w, x, nullptr, &acc, ex);
  return acc;
}

/// Run-time dispatch: path p, which must be one this CPU runs (else std::invalid_argument).
template <PackedWeights W, executor Exec = sequential_executor>
void gemm(const W& w, const quantized_activations& x, matrix<float>& y, path p, Exec&& ex = {}) {
  if (!cpu_supports(p))
    throw std::invalid_argument("tern::kernels::gemm: path " + std::string(path_name(p)) +
                                " is not supported by this CPU/OS");
  run_path(p, [&](auto arch) { gemm(w, x, y, arch, ex); });
}

template <PackedWeights W, executor Exec = sequential_executor>
matrix<float> gemm(const W& w, const quantized_activations& x, path p, Exec&& ex = {}) {
  matrix<float> y(x.tokens(), w.rows());
  gemm(w, x, y, p, ex);
  return y;
}

template <PackedWeights W, executor Exec = sequential_executor>
accumulators gemm_acc(const W& w, const quantized_activations& x, path p, Exec&& ex = {}) {
  if (!cpu_supports(p))
    throw std::invalid_argument("tern::kernels::gemm_acc: path " + std::string(path_name(p)) +
                                " is not supported by this CPU/OS");
  return run_path(p, [&](auto arch) { return gemm_acc(w, x, arch, ex); });
}

}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels
