#pragma once
// The specification of the ternary matmul: scalar, obviously correct, slow. Every fast path
// (kernels/gemm.hpp and the per-architecture files it includes) must produce the same int32
// accumulators bit for bit.
//
//   W: M x K ternary (packed_ternary), groups g of G columns, scale beta(i, g)
//   X: N x K int8 (quantized_activations), scale s_n per token
//   acc(n, i, g) = sum_{j in group g} w(i, j) * xq(n, j)                       (int32, exact)
//   y(n, i)      = (sum_g float(acc(n, i, g)) * beta(i, g)) * s_n                (float)
// y is tokens x out (y = x W^T). |acc| <= 128 K, so int32 is exact for any K < 2^24.
#include <concepts>
#include <cstdint>
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
  accumulators(index n, index m, index g)
      : tokens(n), rows(m), groups(g), v(static_cast<std::size_t>(n * m * g), 0) {}
  std::int32_t& operator()(index n, index i, index g) { return v[static_cast<std::size_t>((n * rows + i) * groups + g)]; }
  std::int32_t operator()(index n, index i, index g) const {
    return v[static_cast<std::size_t>((n * rows + i) * groups + g)];
  }
};

/// A packed ternary weight format the kernels read (packed_ternary, packed_ternary_base3):
/// code(i, j) decodes one weight (the specification's view), row(i) / layout() / scale(i, g)
/// are what the kernels stream. The byte layout inside a 64-byte block is the format's own.
template <class W>
concept packed_weights = requires(const W& w, index i) {
  { W::format } -> std::convertible_to<std::string_view>;
  { w.code(i, i) } -> std::convertible_to<int>;
  { w.row(i) } -> std::convertible_to<const std::uint8_t*>;
  { w.layout() } -> std::convertible_to<k_layout>;
  { w.scale(i, i) } -> std::convertible_to<float>;
  { w.rows() } -> std::convertible_to<index>;
};

namespace detail {
template <packed_weights W>
void check_operands(std::string_view where, const W& w, const quantized_activations& x) {
  if (!(w.layout() == x.layout))
    throw shape_error(std::string(where) + ": activations are " + tern::detail::shape_str(x.tokens, x.layout.k) +
                      " with group " + std::to_string(x.layout.group) + ", weights are " +
                      tern::detail::shape_str(w.rows(), w.cols()) + " with group " +
                      std::to_string(w.layout().group) + "; K and group must match");
}
}  // namespace detail

/// acc(n, i, g), the specification.
template <packed_weights W>
accumulators gemm_acc_ref(const W& w, const quantized_activations& x) {
  detail::check_operands("tern::kernels::gemm_acc_ref", w, x);
  const k_layout& l = w.layout();
  accumulators acc(x.tokens, w.rows(), l.groups);
  for (index n = 0; n < x.tokens; ++n)
    for (index i = 0; i < w.rows(); ++i)
      for (index j = 0; j < l.k; ++j) acc(n, i, j / l.group) += std::int32_t(w.code(i, j)) * x.code(n, j);
  return acc;
}

/// y = dequantized product from accumulators (the epilogue every path shares).
template <packed_weights W>
matrix<float> apply_scales(const accumulators& acc, const W& w, const quantized_activations& x) {
  matrix<float> y(acc.tokens, acc.rows);
  for (index n = 0; n < acc.tokens; ++n)
    for (index i = 0; i < acc.rows; ++i) {
      float s = 0.0f;
      for (index g = 0; g < acc.groups; ++g) s += float(acc(n, i, g)) * w.scale(i, g);
      y(n, i) = s * x.scale[static_cast<std::size_t>(n)];
    }
  return y;
}

/// y(n, i), the specification.
template <packed_weights W>
matrix<float> gemm_ref(const W& w, const quantized_activations& x) {
  return apply_scales(gemm_acc_ref(w, x), w, x);
}

}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels
