#pragma once
// Int8 activations per token, laid out for the kernels, with the offset-correction sums.
//
// Quantization (METHOD.md, absmax int8 per token n, round half to even):
//   gamma_n = max(max_j |x(n, j)|, 1e-5),  xq(n, j) = clamp(round(127 * x(n, j) / gamma_n), -128, 127)
//   scale_n = gamma_n / 127                          (dequantization multiplier)
// Folded gain-free RMSNorm (fold = norm_fold::rms): the layer computes Q(x / r_n) with
//   r_n = sqrt(mean_j x(n, j)^2 + eps), eps = 1e-6 unless given. absmax quantization is scale
//   invariant, Q(x / r) = Q(x), so the int8 codes are those of x itself and only the scale
//   changes: scale_n = gamma_n / (127 r_n).
// Folded RMSNorm with a learned gain g (the extra norm of the paper's policy): the layer computes
//   Q(g (.) x / r_n). The codes are those of u = g (.) x (u(n, j) = g_j x(n, j), one float multiply),
//   gamma_n = max(max_j |u(n, j)|, 1e-5), and r_n (of x, not of u) goes into the scale as above:
//   scale_n = gamma_n / (127 r_n). Without fold the gain alone is applied (codes of g (.) x).
//   In exact arithmetic these are the codes of the normalised input; in floating point a code
//   can differ by one where 127 u / gamma lies within rounding error of a half-integer.
// Layout: codes of token n at codes + n * padded_k, in the padded positions of k_layout (the
//   same positions as the packed weights), zeros in the padding.
// Offset correction: the kernels multiply unsigned weight codes c = w + 1 by x, so
//   sum_j w_j x_j = sum_j c_j x_j - sum_j x_j; sums(n, g) holds sum over group g of xq(n, j).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>
#include <xsimd/xsimd.hpp>

#include "tern/core/matrix.hpp"
#include "tern/core/shape_error.hpp"
#include "tern/kernels/packed_ternary.hpp"
#include "tern/quant/quantized.hpp"

namespace tern::kernels {
inline namespace TERN_KERNELS_ABI {

/// Whether a gain-free RMSNorm in front of the layer is folded into the activation scale.
enum class norm_fold { none, rms };

/// Int8 activations (tokens x K) in the kernels' padded layout.
struct quantized_activations {
  k_layout layout;
  index tokens = 0;
  detail::aligned_buffer<std::int8_t> codes;  ///< tokens x layout.padded_k()
  std::vector<float> scale;                   ///< per token dequantization multiplier
  std::vector<std::int32_t> sums;             ///< tokens x layout.groups, sum of codes per group

  const std::int8_t* token(index n) const { return codes.data() + n * layout.padded_k(); }
  std::int32_t sum(index n, index g) const { return sums[static_cast<std::size_t>(n * layout.groups + g)]; }
  /// Code of token n at logical column j.
  std::int8_t code(index n, index j) const { return token(n)[layout.position(j)]; }

  /// Allocates zeroed storage for `tokens` tokens of layout `l`.
  quantized_activations(const k_layout& l, index tokens_)
      : layout(l),
        tokens(tokens_),
        codes(static_cast<std::size_t>(tokens_ * l.padded_k())),
        scale(static_cast<std::size_t>(tokens_), 0.0f),
        sums(static_cast<std::size_t>(tokens_ * l.groups), 0) {}
  quantized_activations() = default;

  /// Recomputes sums from the codes (after codes were written directly).
  void update_sums() {
    for (index n = 0; n < tokens; ++n)
      for (index g = 0; g < layout.groups; ++g) {
        const std::int8_t* p = token(n) + g * layout.padded_group();
        std::int32_t s = 0;
        for (index j = 0; j < layout.padded_group(); ++j) s += p[j];
        sums[static_cast<std::size_t>(n * layout.groups + g)] = s;
      }
  }
};

namespace detail {

/// max_j |x_j| over a contiguous row, with xsimd.
inline float max_abs(const float* x, index k) {
  using batch = xsimd::batch<float>;
  constexpr index w = static_cast<index>(batch::size);
  batch m(0.0f);
  index j = 0;
  for (; j + w <= k; j += w) m = xsimd::max(m, xsimd::abs(batch::load_unaligned(x + j)));
  alignas(64) float lanes[w];
  m.store_aligned(lanes);
  float r = 0.0f;
  for (index l = 0; l < w; ++l) r = std::max(r, lanes[l]);
  for (; j < k; ++j) r = std::max(r, std::abs(x[j]));
  return r;
}

/// sum_j x_j^2 in double (the RMS of the folded norm).
inline double sum_squares(const float* x, index k) {
  double s = 0.0;
  for (index j = 0; j < k; ++j) s += double(x[j]) * double(x[j]);
  return s;
}

/// max_j |g_j x_j| over a contiguous row (the gain applied first, one float multiply).
inline float max_abs_gain(const float* x, const float* gain, index k) {
  using batch = xsimd::batch<float>;
  constexpr index w = static_cast<index>(batch::size);
  batch m(0.0f);
  index j = 0;
  for (; j + w <= k; j += w)
    m = xsimd::max(m, xsimd::abs(batch::load_unaligned(gain + j) * batch::load_unaligned(x + j)));
  alignas(64) float lanes[w];
  m.store_aligned(lanes);
  float r = 0.0f;
  for (index l = 0; l < w; ++l) r = std::max(r, lanes[l]);
  for (; j < k; ++j) r = std::max(r, std::abs(gain[j] * x[j]));
  return r;
}

/// out_j = clamp(nearbyint(127 * u_j / gamma), -128, 127) for j < k, u_j = g_j * x_j when a
/// gain is given (else x_j), with xsimd. Exactly the scalar formula element by element (same
/// operations, same order, IEEE division).
inline void quantize_row(const float* x, const float* gain, index k, float gamma, std::int8_t* out) {
  using batch = xsimd::batch<float>;
  constexpr index w = static_cast<index>(batch::size);
  const batch c127(127.0f), g(gamma), lo(-128.0f), hi(127.0f);
  alignas(64) float tmp[w];
  index j = 0;
  for (; j + w <= k; j += w) {
    batch u = batch::load_unaligned(x + j);
    if (gain) u = batch::load_unaligned(gain + j) * u;
    batch q = xsimd::nearbyint((c127 * u) / g);
    q = xsimd::min(xsimd::max(q, lo), hi);
    q.store_aligned(tmp);
    for (index l = 0; l < w; ++l) out[j + l] = static_cast<std::int8_t>(tmp[l]);
  }
  for (; j < k; ++j) {
    const float u = gain ? gain[j] * x[j] : x[j];
    const float q = std::nearbyint((127.0f * u) / gamma);
    out[j] = static_cast<std::int8_t>(std::min(std::max(q, -128.0f), 127.0f));
  }
}

}  // namespace detail

/// Quantizes `tokens` rows of float activations (row n at x + n * l.k) for weights of layout `l`
/// into `q`, reusing its storage when it already has this layout and token count. `gain`
/// (nullptr, or l.k values) is the folded norm's learned gain, `eps` its epsilon (see the file
/// comment).
inline void quantize_activations_into(quantized_activations& q, const float* x, index tokens, const k_layout& l,
                                      norm_fold fold = norm_fold::none, const float* gain = nullptr,
                                      float eps = 1e-6f) {
  if (tokens < 0) throw std::invalid_argument("tern::kernels::quantize_activations: negative token count");
  if (!(q.layout == l) || q.tokens != tokens) q = quantized_activations(l, tokens);
  for (index n = 0; n < tokens; ++n) {
    const float* row = x + n * l.k;
    for (index j = 0; j < l.k; ++j)
      if (!std::isfinite(row[j]))
        throw std::domain_error("tern::kernels::quantize_activations: row " + std::to_string(n) +
                                " of x holds a non-finite value");
    const float gamma = std::max(gain ? detail::max_abs_gain(row, gain, l.k) : detail::max_abs(row, l.k), 1e-5f);
    std::int8_t* out = q.codes.data() + n * l.padded_k();
    for (index g = 0; g < l.groups; ++g) {
      const index j0 = g * l.group, len = std::min(l.group, l.k - j0);
      detail::quantize_row(row + j0, gain ? gain + j0 : nullptr, len, gamma, out + g * l.padded_group());
    }
    float s = gamma / 127.0f;
    if (fold == norm_fold::rms)
      s = static_cast<float>(double(s) / std::sqrt(detail::sum_squares(row, l.k) / double(l.k) + double(eps)));
    q.scale[static_cast<std::size_t>(n)] = s;
  }
  q.update_sums();
}

/// Quantizes float activations (tokens x K, one token per row) for weights of layout `l`;
/// `gain`: nullptr or K values (see quantize_activations_into).
inline quantized_activations quantize_activations(const matrix<float>& x, const k_layout& l,
                                                  norm_fold fold = norm_fold::none, const float* gain = nullptr) {
  tern::detail::check_shape("tern::kernels::quantize_activations", "x", x, -1, l.k);
  quantized_activations q;
  quantize_activations_into(q, x.data(), x.rows(), l, fold, gain);
  return q;
}

/// Wraps int8 codes that were quantized elsewhere (tern::quantized<float>, one scale per token:
/// scales is tokens x 1) into the layout `l`.
inline quantized_activations make_activations(const quantized<float>& x, const k_layout& l) {
  constexpr std::string_view where = "tern::kernels::make_activations";
  tern::detail::check_shape(where, "codes", x.codes, -1, l.k);
  tern::detail::check_shape(where, "scales", x.scales, x.codes.rows(), 1);
  quantized_activations q(l, x.codes.rows());
  for (index n = 0; n < q.tokens; ++n) {
    for (index j = 0; j < l.k; ++j) q.codes[static_cast<std::size_t>(n * l.padded_k() + l.position(j))] = x.codes(n, j);
    q.scale[static_cast<std::size_t>(n)] = x.scales(n, 0);
  }
  q.update_sums();
  return q;
}

}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels
