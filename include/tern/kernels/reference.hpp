#pragma once
// The specification of the ternary matmul: scalar, obviously correct, slow. Every fast path
// (kernels/gemm.hpp and the per-architecture files it includes) must produce the same int32
// accumulators bit for bit, and every path ends in the same epilogue (detail::epilogue below).
//
//   W: M x K ternary (packed_ternary, packed_ternary_base3), groups g of G columns, scale beta(i, g)
//   X: N x K int8 (quantized_activations), scale s_n per token
//   acc(n, i, g) = sum_{j in group g} w(i, j) * xq(n, j)                       (int32, exact)
//   y(n, i)      = (sum_g float(acc(n, i, g)) * beta(i, g)) * s_n                (float)
// y is tokens x out (y = x W^T).
//
// Accumulator width: |acc| <= 128 G. The kernels accumulate the unsigned codes c = w + 1 and
// subtract the activation sums afterwards (the offset correction), so their int32 partial sums
// reach sum c x in [-256 P, 254 P], P the group's padded length (k_layout::padded_group). Both
// are exact in int32 while P <= 2^23 = k_layout::max_padded_group, which k_layout::make enforces
// (a group longer than that is refused with an error naming K and the bound).
#include <concepts>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tern/core/matrix.hpp"
#include "tern/core/shape_error.hpp"
#include "tern/kernels/packed_ternary.hpp"
#include "tern/kernels/packed_ternary_base3.hpp"
#include "tern/kernels/quantized_activations.hpp"

namespace tern::kernels {
inline namespace TERN_KERNELS_ABI {

/// Int32 accumulators of the product, laid out [n][i][g] (tokens x rows x groups).
struct accumulators {
  index tokens = 0, rows = 0, groups = 0;
  std::vector<std::int32_t> v;
  accumulators() = default;
  accumulators(index n, index m, index g) : tokens(n), rows(m), groups(g) {
    if (n < 0 || m < 0 || g < 0)
      throw std::invalid_argument("tern::kernels::accumulators: negative extent " + std::to_string(n) + " x " +
                                  std::to_string(m) + " x " + std::to_string(g));
    index total = 0;
    if (__builtin_mul_overflow(n, m, &total) || __builtin_mul_overflow(total, g, &total))
      throw std::length_error("tern::kernels::accumulators: " + std::to_string(n) + " x " + std::to_string(m) + " x " +
                              std::to_string(g) + " overflows");
    v.assign(static_cast<std::size_t>(total), 0);
  }
  std::int32_t& operator()(index n, index i, index g) { return v[static_cast<std::size_t>((n * rows + i) * groups + g)]; }
  std::int32_t operator()(index n, index i, index g) const {
    return v[static_cast<std::size_t>((n * rows + i) * groups + g)];
  }
};

/// A packed ternary weight format the kernels read (packed_ternary, packed_ternary_base3):
/// code(i, j) decodes one weight (the specification's view), row(i) / layout() / scale(i, g)
/// are what the kernels stream; block_weights is the format's block (64 bytes) in weights.
/// What the compiler cannot check: a non-empty matrix satisfies its layout (rows() rows of
/// row_bytes() bytes, codes of every format are valid) by construction.
template <class W>
concept PackedWeights = requires(const W& w, index i) {
  { W::format } -> std::convertible_to<std::string_view>;
  { W::block_weights } -> std::convertible_to<index>;
  { w.code(i, i) } -> std::convertible_to<int>;
  { w.row(i) } -> std::convertible_to<const std::uint8_t*>;
  { w.layout() } -> std::convertible_to<k_layout>;
  { w.scale(i, i) } -> std::convertible_to<float>;
  { w.rows() } -> std::convertible_to<index>;
  { w.empty() } -> std::convertible_to<bool>;
};
/// PackedWeights under its snake_case name, for callers written against it.
template <class W>
concept packed_weights = PackedWeights<W>;

namespace detail {
/// The entry-point check of every product: non-empty weights (a default-constructed or
/// moved-from matrix has no rows and is refused here) and activations in the weights' layout.
template <PackedWeights W>
void check_operands(std::string_view where, const W& w, const quantized_activations& x) {
  if (w.empty())
    throw std::invalid_argument(std::string(where) + ": the " + std::string(W::format) +
                                " weights are empty (default-constructed or moved from)");
  if (!(w.layout() == x.layout()))
    throw shape_error(std::string(where) + ": activations are " + tern::detail::shape_str(x.tokens(), x.layout().k) +
                      " with group " + std::to_string(x.layout().group) + " and block " +
                      std::to_string(x.layout().block) + ", weights are " + tern::detail::shape_str(w.rows(), w.cols()) +
                      " with group " + std::to_string(w.layout().group) + " and block " +
                      std::to_string(w.layout().block) + "; quantize the activations with w.layout()");
}

/// The epilogue every path shares (the tiled paths through tile_epilogue in gemm.hpp, the AMX
/// path, and apply_scales below): y(n, i) = (sum_g float(acc(n, i, g)) * beta(i, g)) * s_n, the
/// groups summed in order, starting from 0.
[[gnu::always_inline]] inline float add_group(float partial, std::int32_t acc, float beta) {
  return partial + float(acc) * beta;
}
[[gnu::always_inline]] inline float finish_output(float partial, float token_scale) { return partial * token_scale; }
}  // namespace detail

/// acc(n, i, g), the specification.
template <PackedWeights W>
accumulators gemm_acc_ref(const W& w, const quantized_activations& x) {
  detail::check_operands("tern::kernels::gemm_acc_ref", w, x);
  const k_layout& l = w.layout();
  accumulators acc(x.tokens(), w.rows(), l.groups);
  for (index n = 0; n < x.tokens(); ++n)
    for (index i = 0; i < w.rows(); ++i)
      for (index j = 0; j < l.k; ++j) acc(n, i, j / l.group) += std::int32_t(w.code(i, j)) * x.code(n, j);
  return acc;
}

/// y = dequantized product from accumulators (the epilogue every path shares). acc must be
/// x.tokens() x w.rows() x groups (shape_error otherwise).
template <PackedWeights W>
matrix<float> apply_scales(const accumulators& acc, const W& w, const quantized_activations& x) {
  detail::check_operands("tern::kernels::apply_scales", w, x);
  if (acc.tokens != x.tokens() || acc.rows != w.rows() || acc.groups != w.layout().groups ||
      acc.v.size() != static_cast<std::size_t>(acc.tokens * acc.rows * acc.groups))
    throw shape_error("tern::kernels::apply_scales: accumulators are " + std::to_string(acc.tokens) + " x " +
                      std::to_string(acc.rows) + " x " + std::to_string(acc.groups) + " holding " +
                      std::to_string(acc.v.size()) + ", expected " + std::to_string(x.tokens()) + " x " +
                      std::to_string(w.rows()) + " x " + std::to_string(w.layout().groups));
  matrix<float> y(acc.tokens, acc.rows);
  for (index n = 0; n < acc.tokens; ++n)
    for (index i = 0; i < acc.rows; ++i) {
      float s = 0.0f;
      for (index g = 0; g < acc.groups; ++g) s = detail::add_group(s, acc(n, i, g), w.scale(i, g));
      y(n, i) = detail::finish_output(s, x.scale(n));
    }
  return y;
}

/// y(n, i), the specification.
template <PackedWeights W>
matrix<float> gemm_ref(const W& w, const quantized_activations& x) {
  return apply_scales(gemm_acc_ref(w, x), w, x);
}

}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels
