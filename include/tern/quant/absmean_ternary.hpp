#pragma once
// Absmean ternary weight quantizer (BitNet b1.58).
//
// Forward, for every scale block B of W (the whole tensor, a row, or G columns of a row):
//   beta_B = max(mean_{(i,j) in B} |W_ij|, eps_w)            eps_w = 1e-5
//   Wq_ij  = clamp(round(W_ij / beta_B), -1, 1)               codes in {-1, 0, +1}
//   W~_ij  = beta_B * Wq_ij                                   (fake_quantize)
// Backward (straight-through; beta gets no gradient):
//   ste:          dL/dW_ij = dL/dW~_ij
//   clipped_ste:  dL/dW_ij = dL/dW~_ij * [ |W_ij / beta_B| <= 1 ]
//
// Non-finite input: a block whose beta is not finite (it holds a NaN or an Inf) comes out
// all NaN from fake_quantize, so divergence shows in the loss instead of being clamped away;
// quantize() throws std::domain_error naming the first non-finite element (or an overflowing
// scale), since int8 codes cannot represent it.
//
// Template parameters:
//   Granularity  per_tensor (reference BitNet), per_channel, or per_group<G> along K
//   Rounding     round_half_even (PyTorch's, default), round_half_up, round_half_away
//   Ste          ste (default) or clipped_ste
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "tern/core/shape_error.hpp"
#include "tern/quant/detail_blocks.hpp"
#include "tern/quant/granularity.hpp"
#include "tern/quant/quantized.hpp"
#include "tern/quant/quantizer.hpp"
#include "tern/quant/rounding.hpp"
#include "tern/quant/ste.hpp"

namespace tern {

template <class Granularity = per_tensor, class Rounding = round_half_even, class Ste = ste>
struct absmean_ternary {
  using granularity = Granularity;
  using rounding = Rounding;
  using ste_policy = Ste;
  static constexpr double eps = 1e-5;

  /// beta for every scale block: scale_rows x ceil(cols / group).
  template <class T>
  static matrix<T> scales(const matrix<T>& w) {
    matrix<T> s(Granularity::scale_rows(w.rows()), detail::scale_cols<Granularity>(w.cols()));
    detail::for_each_scale_block<Granularity>(
        w.rows(), w.cols(), [&](index r0, index c0, index nr, index nc, index si, index sg) {
          const index n = nr * nc;
          const T mean = n > 0 ? w.block(r0, c0, nr, nc).cwiseAbs().sum() / T(n) : T(0);
          // std::max would drop a NaN mean; keep it so the block is marked non-finite.
          s(si, sg) = std::isnan(mean) ? mean : std::max(mean, T(eps));
        });
    return s;
  }

  /// The ternary code of w / beta.
  template <class T>
  static T code(T w, T beta) {
    return std::clamp(Rounding::apply(w / beta), T(-1), T(1));
  }

  template <class T>
  static quantized<T> quantize(const matrix<T>& w) {
    if (auto [i, j] = detail::first_non_finite(w); i >= 0) {
      throw std::domain_error("absmean_ternary::quantize: weight(" + std::to_string(i) + ", " +
                              std::to_string(j) + ") is not finite");
    }
    quantized<T> q;
    q.scales = scales(w);
    if (!q.scales.allFinite())  // finite weights whose mean |W| overflows T
      throw std::domain_error("absmean_ternary::quantize: a scale overflows (mean |W| of a block is not finite)");
    q.group = Granularity::group_size(w.cols());
    q.codes.resize(w.rows(), w.cols());
    detail::for_each_scale_block<Granularity>(
        w.rows(), w.cols(), [&](index r0, index c0, index nr, index nc, index si, index sg) {
          const T beta = q.scales(si, sg);
          for (index i = r0; i < r0 + nr; ++i)
            for (index j = c0; j < c0 + nc; ++j)
              q.codes(i, j) = static_cast<std::int8_t>(code(w(i, j), beta));
        });
    return q;
  }

  template <class T>
  static matrix<T> fake_quantize(const matrix<T>& w) {
    const matrix<T> s = scales(w);
    matrix<T> out(w.rows(), w.cols());
    detail::for_each_scale_block<Granularity>(
        w.rows(), w.cols(), [&](index r0, index c0, index nr, index nc, index si, index sg) {
          const T beta = s(si, sg);
          if (!std::isfinite(beta)) {
            out.block(r0, c0, nr, nc).setConstant(std::numeric_limits<T>::quiet_NaN());
            return;
          }
          // beta * clamp(round(w / beta), -1, 1), vectorized; equal to beta * code(w, beta).
          out.block(r0, c0, nr, nc).array() =
              Rounding::apply_array(w.block(r0, c0, nr, nc).array() / beta).max(T(-1)).min(T(1)) * beta;
        });
    return out;
  }

  template <class T>
  static matrix<T> backward(const matrix<T>& w, const matrix<T>& dq) {
    detail::check_same_shape("absmean_ternary::backward", "weight", w, "gradient", dq);
    if constexpr (!Ste::clipped) {
      return dq;
    } else {
      const matrix<T> s = scales(w);
      matrix<T> dw(w.rows(), w.cols());
      detail::for_each_scale_block<Granularity>(
          w.rows(), w.cols(), [&](index r0, index c0, index nr, index nc, index si, index sg) {
            const T beta = s(si, sg);
            for (index i = r0; i < r0 + nr; ++i)
              for (index j = c0; j < c0 + nc; ++j)
                dw(i, j) = std::abs(w(i, j) / beta) <= T(1) ? dq(i, j) : T(0);
          });
      return dw;
    }
  }
};

static_assert(CodeQuantizer<absmean_ternary<>>);
static_assert(CodeQuantizer<absmean_ternary<per_group<64>, round_half_up, clipped_ste>>);

}  // namespace tern
