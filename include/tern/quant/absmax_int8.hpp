#pragma once
// Absmax int8 activation quantizer, one scale per token (row).
//
// Forward, for every row x of X:
//   gamma = max(max_j |x_j|, eps_x)                          eps_x = 1e-5
//   xq_j  = clamp(round(127 * x_j / gamma), -128, 127)        int8 codes
//   x~_j  = gamma * xq_j / 127                                (fake_quantize)
// With gamma from the row itself |127 x_j / gamma| <= 127 (short of overflow near FLT_MAX),
// so the -128 end of the clamp is reached through quantize_with(x, gamma) with a caller's
// gamma (static or calibrated scales), where it matters.
// Backward (straight-through; gamma gets no gradient):
//   ste:          dL/dx = dL/dx~
//   clipped_ste:  dL/dx_j = dL/dx~_j * [ |x_j| <= gamma ]     (never clips with absmax gamma)
//
// Scale invariance (used by the kernels to fold a gain-free RMSNorm into the output scale):
//   for r > 0, the codes of x / r equal the codes of x in exact arithmetic (until gamma hits
//   the eps floor). In floating point they are identical when r is a power of two; for other
//   r a code can differ by 1 where 127 x / gamma lies within rounding error of a tie.
//
// Non-finite input: a row whose gamma is not finite comes out all NaN from fake_quantize;
// quantize() throws std::domain_error naming the first non-finite element.
//
// Template parameters: Rounding (round_half_even default), Ste (ste default).
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "tern/core/shape_error.hpp"
#include "tern/quant/detail_blocks.hpp"
#include "tern/quant/quantized.hpp"
#include "tern/quant/quantizer.hpp"
#include "tern/quant/rounding.hpp"
#include "tern/quant/ste.hpp"

namespace tern {

template <class Rounding = round_half_even, class Ste = ste>
struct absmax_int8 {
  using rounding = Rounding;
  using ste_policy = Ste;
  static constexpr double eps = 1e-5;

  /// gamma of one row (an Eigen row expression): max(max_j |x_j|, eps), NaN if the row holds a
  /// NaN, Inf if it holds an Inf. One pass: maxCoeff<PropagateNaN> returns NaN if the row holds
  /// one (plain maxCoeff's NaN behaviour is unspecified).
  template <class Row>
  static typename Row::Scalar row_gamma(const Row& x) {
    using T = typename Row::Scalar;
    const T m = x.size() > 0 ? x.array().abs().template maxCoeff<Eigen::PropagateNaN>() : T(0);
    return std::isnan(m) ? m : std::max(m, T(eps));
  }

  /// gamma for every row: rows x 1. A NaN anywhere in the row makes gamma NaN.
  template <class T>
  static matrix<T> gammas(const matrix<T>& x) {
    matrix<T> g(x.rows(), 1);
    for (index i = 0; i < x.rows(); ++i) g(i, 0) = row_gamma(x.row(i));
    return g;
  }

  template <class T>
  static T code(T x, T gamma) {
    return std::clamp(Rounding::apply(T(127) * x / gamma), T(-128), T(127));
  }

  /// Quantizes with caller-given per-row gammas (rows x 1, each finite and > 0);
  /// scales = gamma / 127.
  template <class T>
  static quantized<T> quantize_with(const matrix<T>& x, const matrix<T>& gamma) {
    detail::check_shape("absmax_int8::quantize_with", "gamma", gamma, x.rows(), 1);
    if (auto [i, j] = detail::first_non_finite(x); i >= 0) {
      throw std::domain_error("absmax_int8::quantize: activation(" + std::to_string(i) + ", " +
                              std::to_string(j) + ") is not finite");
    }
    for (index i = 0; i < gamma.rows(); ++i)
      if (!(std::isfinite(gamma(i, 0)) && gamma(i, 0) > T(0)))
        throw std::domain_error("absmax_int8::quantize_with: gamma(" + std::to_string(i) +
                                ") = " + std::to_string(double(gamma(i, 0))) + " must be finite and positive");
    quantized<T> q;
    q.group = x.cols() > 0 ? x.cols() : 1;
    q.codes.resize(x.rows(), x.cols());
    q.scales = gamma / T(127);
    for (index i = 0; i < x.rows(); ++i)
      for (index j = 0; j < x.cols(); ++j)
        q.codes(i, j) = static_cast<std::int8_t>(code(x(i, j), gamma(i, 0)));
    return q;
  }

  template <class T>
  static quantized<T> quantize(const matrix<T>& x) {
    return quantize_with(x, gammas(x));
  }

  /// The codes of a whole row, as floating-point values (vectorized form of code()).
  template <class A, class T>
  static auto codes_array(const A& row, T gamma) {
    return Rounding::apply_array((row * T(127)) / gamma).max(T(-128)).min(T(127));
  }

  /// Row-wise quantizer: fake_quantize acts on every row alone, so bit_linear may fuse it with
  /// the norm in front of it (fake_quantize_row, one row at a time).
  static constexpr bool row_wise = true;
  /// backward(x, dq) == dq whatever x is (the plain STE): bit_linear's fused path may then skip
  /// it and need not keep x. A quantizer opts in explicitly; false with the clipped STE.
  static constexpr bool backward_is_identity = !Ste::clipped;

  /// fake_quantize of one row x (an Eigen row expression) into out (a row of the same size).
  template <class Row, class Out>
  static void fake_quantize_row(const Row& x, Out&& out) {
    using T = typename Row::Scalar;
    const T gamma = row_gamma(x);
    if (!std::isfinite(gamma)) {
      out.setConstant(std::numeric_limits<T>::quiet_NaN());
      return;
    }
    // gamma * code / 127, in that order: the same values as code() element by element.
    out.array() = (codes_array(x.array(), gamma) * gamma) / T(127);
  }

  template <class T>
  static matrix<T> fake_quantize(const matrix<T>& x) {
    matrix<T> out(x.rows(), x.cols());
    for (index i = 0; i < x.rows(); ++i) fake_quantize_row(x.row(i), out.row(i));
    return out;
  }

  template <class T>
  static matrix<T> backward(const matrix<T>& x, const matrix<T>& dq) {
    detail::check_same_shape("absmax_int8::backward", "input", x, "gradient", dq);
    if constexpr (!Ste::clipped) {
      return dq;
    } else {
      const matrix<T> g = gammas(x);
      matrix<T> dx(x.rows(), x.cols());
      for (index i = 0; i < x.rows(); ++i)
        for (index j = 0; j < x.cols(); ++j)
          dx(i, j) = std::abs(x(i, j)) <= g(i, 0) ? dq(i, j) : T(0);
      return dx;
    }
  }
};

static_assert(CodeQuantizer<absmax_int8<>>);

}  // namespace tern
