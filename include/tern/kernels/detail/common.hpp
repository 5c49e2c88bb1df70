#pragma once
// What every per-ISA kernel file (kernels/detail/) shares: the guard that keeps them internal,
// and the format tag the micro-kernels are overloaded on.
//
// The micro-kernel contract (one overload per instruction set and format, named dot_tile):
//   dot_tile<R, C, T>(Arch, format_tag<W>, w[R], x[C], nblocks, out[R * C])
// for R weight rows w[r] and C activation columns x[c], both pointing at the start of one group
// in the padded layout of k_layout, nblocks blocks of W::block_weights weights (64 bytes each):
//   out[r * C + c] = sum_p code_r(p) * x_c(p),   code = w + 1 in {0, 1, 2}   (int32, exact)
// The caller subtracts sum_p x_c(p) (quantized_activations::sum): the offset correction. T is
// the tuning of the CPU (kernels/tuning.hpp: prefetch distances and the like).
#if !defined(TERN_KERNELS_DETAIL_INCLUDE)
#error "tern/kernels/detail/ headers are internal: include tern/kernels/gemm.hpp"
#endif

#include "tern/kernels/arch.hpp"

namespace tern::kernels {
inline namespace TERN_KERNELS_ABI {
namespace detail {

/// Selects the micro-kernels of weight format W by overload (packed_ternary, packed_ternary_base3).
template <class W>
struct format_tag {};

// Per ISA, a format's decoder is a traits type `decoder<W>` in that ISA's namespace:
//   slices          codes per packed byte (4 for tq2, 5 for tq1): slice t of 64 consecutive bytes
//                   pairs with the 64 activations 64 t .. 64 t + 63 of the block
//   state           what one load of packed bytes becomes (raw bytes, or the tq1 recurrence)
//   load(p)         the state of the bytes at p (one vector of the ISA)
//   slice(s, t)     the codes of slice t, t = 0 .. slices - 1 in that order (may advance s)
//   sign            +1, or -1 where slice() yields -c (NEON's compare masks): out is negated
// Loops take lambdas nowhere: GCC does not give a lambda its enclosing function's target
// attribute, so intrinsics inside one would not compile in a baseline translation unit.

}  // namespace detail
}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels
