#pragma once
// The choices of the tiled paths that depend on the instruction set (tile shapes: register
// budget) and on the CPU (prefetch distances, rows per GEMV pass, row-block size: measured), as
// traits types. The run-time dispatch picks the CPU's tuning (with_tuning) and the driver
// (gemm.hpp) instantiates the kernels for it; nothing here is an #if on the CPU.
//
// A tuning T provides (what the compiler cannot check: the values were measured on the CPU the
// tuning is named after, docs/kernels.md has the measurements):
//   T::prefetch_far_blocks   GEMV software prefetch into L2 (T2), in 64-byte blocks ahead; 0: none
//   T::prefetch_near_blocks  GEMV software prefetch into L1 (T0), blocks ahead; 0: none
//   T::l2_weight_bytes       packed weight bytes per row block (a block stays in L2 while every
//                            token tile passes)
//   T::vnni_gemv_pass_rows   rows the avx512vnni tq2 GEMV tile walks at once (2 or 4: 2 x 4 or
//                            4 x 4 accumulators of the mask-only unpack)
//   T::pin_weight_loads      load each weight vector once into a register (an empty asm) instead
//                            of letting the compiler fold the load into every AND that uses it
//   T::prefetch_linear       the avx512vnni tq2 GEMV prefetches its pass's rows in memory order
//                            (P lines per block from the first row on) instead of per row
//   T::shape<Arch, W>        the tile shape (below) of path Arch and format W
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "tern/core/matrix.hpp"
#include "tern/kernels/arch.hpp"
#include "tern/kernels/packed_ternary.hpp"
#include "tern/kernels/packed_ternary_base3.hpp"

namespace tern::kernels {
inline namespace TERN_KERNELS_ABI {

/// Tile shapes per path and format: rows per GEMV tile (tokens = 1); rows x tokens per GEMM
/// tile. Register budget, so per instruction set.
///   Arch  a path tag; a tag without its own specialization uses generic's shapes
///   W     packed_ternary (tq2) or packed_ternary_base3 (tq1)
template <class Arch, class W>
struct tile_shape {
  static constexpr int gemv_rows = 4, gemm_rows = 2, gemm_cols = 2;
};
template <class W>
struct tile_shape<avx512bw, W> {
  static constexpr int gemv_rows = 4, gemm_rows = 2, gemm_cols = 4;
};
/// The VNNI tiles are the named-accumulator kernels of detail/avx512vnni.hpp (tied to these
/// shapes by static_assert there): tq2 GEMV 16 rows (in passes of 2 or 4), GEMM 3 x 8 (24
/// accumulators); tq1 GEMV 4 rows (the product decode), GEMM 2 x 8 (its decode temporaries do
/// not fit next to 24 accumulators).
template <>
struct tile_shape<avx512vnni, packed_ternary> {
  static constexpr int gemv_rows = 16, gemm_rows = 3, gemm_cols = 8;
};
template <>
struct tile_shape<avx512vnni, packed_ternary_base3> {
  static constexpr int gemv_rows = 4, gemm_rows = 2, gemm_cols = 8;
};

namespace detail {
/// The nearest tag with tile shapes of its own (overload resolution picks the most derived
/// base, as for the kernels): amx -> avx512vnni, avx2 and neon -> generic.
generic shape_tag(generic);
avx512bw shape_tag(avx512bw);
avx512vnni shape_tag(avx512vnni);
}  // namespace detail

/// tile_shape of the nearest tag that has one (what the driver uses for any tag).
template <class Arch, class W>
using tile_shape_of = tile_shape<decltype(detail::shape_tag(Arch{})), W>;

/// The defaults: measured on an Intel Sapphire Rapids VM (2 vCPUs; not re-measured on another
/// Intel CPU). Used on every CPU without a tuning of its own.
struct tuning_default {
  static constexpr std::string_view name = "default";
  static constexpr index prefetch_far_blocks = 1024;  // 64 KiB ahead
  static constexpr index prefetch_near_blocks = 128;  // 8 KiB ahead
  static constexpr index l2_weight_bytes = 512 * 1024;
  static constexpr int vnni_gemv_pass_rows = 2;
  static constexpr bool pin_weight_loads = false;
  static constexpr bool prefetch_linear = false;
  template <class Arch, class W>
  using shape = tile_shape_of<Arch, W>;
};

/// Tile shapes of the Zen 4 tuning: tile_shape_of, but the VNNI tq2 GEMM tile is 4 x 6 (its six
/// tokens' activations fit Zen 4's 32 KiB L1 where the eight of 3 x 8 fill it).
template <class Arch, class W>
struct zen4_tile_shape : tile_shape_of<Arch, W> {};
template <>
struct zen4_tile_shape<avx512vnni, packed_ternary> : tile_shape<avx512vnni, packed_ternary> {
  static constexpr int gemm_rows = 4, gemm_cols = 6;
};

/// AMD Zen 4 (EPYC, AVX-512 on 256-bit units): measured on the project's 2-core EPYC VM.
struct tuning_zen4 : tuning_default {
  static constexpr std::string_view name = "zen4";
  static constexpr int vnni_gemv_pass_rows = 4;
  static constexpr bool pin_weight_loads = true;
  static constexpr bool prefetch_linear = true;
  template <class Arch, class W>
  using shape = zen4_tile_shape<decltype(detail::shape_tag(Arch{})), W>;
};

/// Which tuning this CPU gets: tuning_zen4 on AMD CPUs with AVX-512 (Zen 4 and later; measured
/// on Zen 4 only), else the defaults.
inline bool cpu_is_zen4() {
#if TERN_KERNELS_X86
  static const bool yes = __builtin_cpu_is("amd") && __builtin_cpu_supports("avx512f");
  return yes;
#else
  return false;
#endif
}

/// Paths with a Zen 4 tuning of their own (where it was measured to differ).
template <class Arch>
inline constexpr bool has_zen4_tuning = std::is_base_of_v<avx512vnni, Arch>;

/// Path Arch with tuning T whatever the CPU: for A/B measurements in one binary (the benchmark)
/// and for testing every tuning's kernels on any CPU that runs Arch.
///   Arch  a path tag; T  a tuning (tuning_default, tuning_zen4, or one of the same shape)
template <class Arch, class T>
struct tuned : Arch {
  using tuning = T;
};

/// Calls f(tuning) with this CPU's tuning for path Arch (a cached CPU query; the kernels of both
/// tunings are instantiated only for paths with a Zen 4 tuning), or with Arch's own for tuned<>.
template <class Arch, class F>
decltype(auto) with_tuning(Arch, F&& f) {
  if constexpr (requires { typename Arch::tuning; }) {
    return f(typename Arch::tuning{});
  } else {
    if constexpr (has_zen4_tuning<Arch>)
      if (cpu_is_zen4()) return f(tuning_zen4{});
    return f(tuning_default{});
  }
}

}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels
