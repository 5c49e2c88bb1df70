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
#include <string_view>
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

class quantized_activations;
namespace detail {
struct activations_writer;
}

/// Int8 activations (tokens x K) in the kernels' padded layout. Its invariants (storage of
/// tokens() x layout().padded_k() codes, one scale per token, sums equal to the codes' group
/// sums, a valid layout) hold by construction: the fields are private and only the
/// quantization functions below write them.
class quantized_activations {
 public:
  /// No tokens in the default (invalid) layout: a product refuses it (layouts differ).
  quantized_activations() = default;
  /// Zeroed storage for `tokens` tokens of layout `l` (a layout from k_layout::make); throws
  /// std::invalid_argument for an inconsistent layout or a negative count, std::length_error
  /// when tokens x padded_k overflows.
  quantized_activations(const k_layout& l, index tokens) : layout_(l), tokens_(tokens) {
    constexpr std::string_view where = "tern::kernels::quantized_activations";
    if (!l.valid())
      throw std::invalid_argument(std::string(where) + ": the layout (K = " + std::to_string(l.k) + ", group " +
                                  std::to_string(l.group) + ", groups " + std::to_string(l.groups) + ", block " +
                                  std::to_string(l.block) + ", blocks per group " +
                                  std::to_string(l.blocks_per_group) + ") is not one k_layout::make gives");
    if (tokens < 0)
      throw std::invalid_argument(std::string(where) + ": negative token count " + std::to_string(tokens));
    index codes = 0, sums = 0;
    if (__builtin_mul_overflow(tokens, l.padded_k(), &codes) || __builtin_mul_overflow(tokens, l.groups, &sums))
      throw std::length_error(std::string(where) + ": " + std::to_string(tokens) + " tokens of " +
                              std::to_string(l.padded_k()) + " padded columns overflow");
    codes_ = detail::aligned_buffer<std::int8_t>(static_cast<std::size_t>(codes));
    scale_.assign(static_cast<std::size_t>(tokens), 0.0f);
    sums_.assign(static_cast<std::size_t>(sums), 0);
  }

  const k_layout& layout() const { return layout_; }
  index tokens() const { return tokens_; }
  /// Codes of token n, layout().padded_k() of them in the padded positions (zeros in the padding).
  const std::int8_t* token(index n) const { return codes_.data() + n * layout_.padded_k(); }
  /// Code of token n at logical column j.
  std::int8_t code(index n, index j) const { return token(n)[layout_.position(j)]; }
  /// Dequantization multiplier of token n.
  float scale(index n) const { return scale_[static_cast<std::size_t>(n)]; }
  /// Sum of the codes of token n in group g (the offset correction).
  std::int32_t sum(index n, index g) const { return sums_[static_cast<std::size_t>(n * layout_.groups + g)]; }
  /// The codes of every token (tokens() x layout().padded_k(), 64-byte aligned).
  const std::int8_t* data() const { return codes_.data(); }

 private:
  friend struct detail::activations_writer;
  /// Recomputes the sums from the codes.
  void update_sums() {
    for (index n = 0; n < tokens_; ++n)
      for (index g = 0; g < layout_.groups; ++g) {
        const std::int8_t* p = token(n) + g * layout_.padded_group();
        std::int32_t s = 0;
        for (index j = 0; j < layout_.padded_group(); ++j) s += p[j];
        sums_[static_cast<std::size_t>(n * layout_.groups + g)] = s;
      }
  }

  k_layout layout_;
  index tokens_ = 0;
  detail::aligned_buffer<std::int8_t> codes_;  // tokens x layout.padded_k()
  std::vector<float> scale_;           // per token dequantization multiplier
  std::vector<std::int32_t> sums_;     // tokens x layout.groups, sum of codes per group
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

/// The one way into quantized_activations' storage (the quantization functions below).
struct activations_writer {
  static std::int8_t* token(quantized_activations& q, index n) { return q.codes_.data() + n * q.layout_.padded_k(); }
  static void set_scale(quantized_activations& q, index n, float s) { q.scale_[static_cast<std::size_t>(n)] = s; }
  static void update_sums(quantized_activations& q) { q.update_sums(); }
};

}  // namespace detail

/// Quantizes `tokens` rows of float activations (row n at x + n * l.k) for weights of layout `l`
/// into `q`, reusing its storage when it already has this layout and token count. `gain`
/// (nullptr, or l.k values) is the folded norm's learned gain, `eps` its epsilon (see the file
/// comment). Throws std::invalid_argument for an inconsistent layout, a negative count or a
/// null x with tokens > 0, std::domain_error for a non-finite input (q is then unspecified but
/// valid).
inline void quantize_activations_into(quantized_activations& q, const float* x, index tokens, const k_layout& l,
                                      norm_fold fold = norm_fold::none, const float* gain = nullptr,
                                      float eps = 1e-6f) {
  using w = detail::activations_writer;
  if (tokens < 0) throw std::invalid_argument("tern::kernels::quantize_activations: negative token count");
  if (tokens > 0 && !x) throw std::invalid_argument("tern::kernels::quantize_activations: x is null");
  if (!(q.layout() == l) || q.tokens() != tokens) q = quantized_activations(l, tokens);
  for (index n = 0; n < tokens; ++n) {
    const float* row = x + n * l.k;
    for (index j = 0; j < l.k; ++j)
      if (!std::isfinite(row[j]))
        throw std::domain_error("tern::kernels::quantize_activations: row " + std::to_string(n) +
                                " of x holds a non-finite value");
    const float gamma = std::max(gain ? detail::max_abs_gain(row, gain, l.k) : detail::max_abs(row, l.k), 1e-5f);
    std::int8_t* out = w::token(q, n);
    for (index g = 0; g < l.groups; ++g) {
      const index j0 = g * l.group, len = std::min(l.group, l.k - j0);
      detail::quantize_row(row + j0, gain ? gain + j0 : nullptr, len, gamma, out + g * l.padded_group());
    }
    float s = gamma / 127.0f;
    if (fold == norm_fold::rms)
      s = static_cast<float>(double(s) / std::sqrt(detail::sum_squares(row, l.k) / double(l.k) + double(eps)));
    w::set_scale(q, n, s);
  }
  w::update_sums(q);
}

/// Quantizes float activations (tokens x K, one token per row) for weights of layout `l`;
/// `gain`: nullptr or K values (see quantize_activations_into).
inline quantized_activations quantize_activations(const matrix<float>& x, const k_layout& l,
                                                  norm_fold fold = norm_fold::none, const float* gain = nullptr,
                                                  float eps = 1e-6f) {
  if (!l.valid()) throw std::invalid_argument("tern::kernels::quantize_activations: the layout is not one k_layout::make gives");
  tern::detail::check_shape("tern::kernels::quantize_activations", "x", x, -1, l.k);
  quantized_activations q;
  quantize_activations_into(q, x.data(), x.rows(), l, fold, gain, eps);
  return q;
}

/// Wraps int8 codes that were quantized elsewhere (tern::quantized<float>, one scale per token:
/// scales is tokens x 1) into the layout `l`.
inline quantized_activations make_activations(const quantized<float>& x, const k_layout& l) {
  constexpr std::string_view where = "tern::kernels::make_activations";
  if (!l.valid()) throw std::invalid_argument(std::string(where) + ": the layout is not one k_layout::make gives");
  tern::detail::check_shape(where, "codes", x.codes, -1, l.k);
  tern::detail::check_shape(where, "scales", x.scales, x.codes.rows(), 1);
  using w = detail::activations_writer;
  quantized_activations q(l, x.codes.rows());
  for (index n = 0; n < q.tokens(); ++n) {
    std::int8_t* out = w::token(q, n);
    for (index j = 0; j < l.k; ++j) out[l.position(j)] = x.codes(n, j);
    w::set_scale(q, n, x.scales(n, 0));
  }
  w::update_sums(q);
  return q;
}

}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels
