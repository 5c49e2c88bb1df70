#pragma once
// bit_linear: the quantization-aware linear layer, composed at compile time from a weight
// quantizer, an activation quantizer and an input norm (the paper's extra RMSNorm, or none).
// No bias (BitNet projections have none).
//
// Forward (training: fake quantization in T, Eigen math), x: N x in, W: out x in:
//   xn = Norm(x)                                    the extra RMSNorm (or identity)
//   xq = xn + lambda * (QA(xn) - xn)                activations, absmax int8 per token
//   Wq = W  + lambda * (QW(W)  - W)                 weights, absmean ternary
//   y  = xq * Wq^T                                  N x out
// Backward, given dy (N x out), straight-through at the quantizers:
//   dWq = dy^T * xq;       dW  += mix_backward<QW>(W, dWq, lambda)   (accumulates)
//   dxq = dy * Wq;         dxn  = mix_backward<QA>(xn, dxq, lambda)
//   dx  = Norm.backward(dxn)                        (accumulates the norm's gain gradient)
// Cached by forward for backward: xn, xq, Wq, and lambda (backward uses the forward's lambda).
//
// Fused norm -> quantizer (the same values, fewer passes over memory): when the norm hands out
// its output row by row (forward_rows: rms_norm, no_norm), the activation quantizer is
// row-wise and declares its backward the identity (absmax_int8 with the plain STE: row_wise,
// backward_is_identity, fake_quantize_row), forward
// quantizes each norm output row while it is in L1 and never stores xn, and backward skips
// the quantizer's identity. Other combinations (clipped STE, identity or user quantizers) take
// the unfused path. Both paths give bit-identical outputs and gradients (tested).
//
// Non-finite values: an input row holding a NaN or an Inf gives an all-NaN output row (the
// norm and the activation quantizer poison the row; other rows are unaffected); a weight
// block holding one gives NaN in every output that uses it. Nothing is clamped away silently.
//
// At inference with lambda = 1 and ternary QW, int8 QA and a gain-free norm this is exactly
//   y = (Wq_codes . xq_codes)_int32 * beta * gamma / 127
// which the kernels compute from quantized_weights().
//
// Template parameters:
//   T        float (training) or double (gradient checks)
//   WeightQ  a Quantizer for W (absmean_ternary<...> or identity_quantizer)
//   ActQ     a Quantizer for the input activations (absmax_int8<...> or identity_quantizer)
//   Norm     a Layer constructed from the feature count: rms_norm<T, gain::learned> (the
//            paper's extra norm, default), rms_norm<T, gain::none>, or no_norm<T>
#include <concepts>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "tern/core/layer.hpp"
#include "tern/core/shape_error.hpp"
#include "tern/nn/no_norm.hpp"
#include "tern/nn/rms_norm.hpp"
#include "tern/quant/absmax_int8.hpp"
#include "tern/quant/absmean_ternary.hpp"
#include "tern/quant/identity_quantizer.hpp"
#include "tern/quant/lambda_mix.hpp"

namespace tern {

namespace detail {
/// Whether bit_linear<T, ., ActQ, Norm> takes the fused norm -> quantizer path (see above).
template <class Norm, class ActQ, class T>
constexpr bool fuses_norm_and_quantizer() {
  // Opt-in on both sides: the quantizer declares row_wise and backward_is_identity and has
  // fake_quantize_row; the norm has forward_rows. Anything else takes the unfused path.
  constexpr bool quantizer_ok = requires(const matrix<T>& x, matrix<T>& out) {
    requires ActQ::row_wise;
    requires ActQ::backward_is_identity;
    ActQ::fake_quantize_row(x.row(0), out.row(0));
  };
  if constexpr (quantizer_ok)
    return requires(Norm& n, const matrix<T>& x) { n.forward_rows(x, [](index, const auto&) {}); };
  else
    return false;
}
}  // namespace detail

template <class T, Quantizer WeightQ = absmean_ternary<>, Quantizer ActQ = absmax_int8<>,
          Layer Norm = rms_norm<T, gain::learned>>
class bit_linear {
  static_assert(std::is_same_v<typename Norm::scalar, T>, "bit_linear: Norm must use the same scalar type");

 public:
  using scalar = T;
  using weight_quantizer = WeightQ;
  using activation_quantizer = ActQ;
  using norm_type = Norm;
  /// True when forward fuses the norm with the activation quantizer (see the file comment).
  static constexpr bool fused_input = detail::fuses_norm_and_quantizer<Norm, ActQ, T>();

  /// A layer with in inputs and out outputs; weights start at zero, lambda at 1 (fully
  /// quantized: the inference behaviour). Initialise weight().value before training.
  bit_linear(index in, index out) : in_(checked_size(in, out)), out_(out), norm_(in) {
    weight_ = parameter<T>(matrix<T>::Zero(out, in));
  }

  /// A layer with the given weights (out x in).
  explicit bit_linear(matrix<T> w) : bit_linear(w.cols(), w.rows()) { weight_.value = std::move(w); }

  index in_features() const { return in_; }
  index out_features() const { return out_; }

  /// lambda in [0, 1]: 0 is full precision, 1 fully quantized (see quant/lambda_mix.hpp).
  void set_lambda(T lambda) {
    detail::check_lambda(lambda);
    lambda_ = lambda;
  }
  T lambda() const { return lambda_; }

  matrix<T> forward(const matrix<T>& x) {
    detail::check_shape("bit_linear::forward", "input", x, -1, in_);
    has_cache_ = false;  // a throwing step below leaves no half-updated cache behind
    if constexpr (fused_input) {
      // xq_i = y_i + lambda (QA(y_i) - y_i), y_i = Norm(x)_i, one row at a time (mix_forward's
      // formula and special cases, so the same values as the unfused path).
      // The row is materialised first (in L1): evaluating the norm's expression inside the
      // mixing formula would let the compiler contract it into FMAs and change the rounding.
      const T lam = lambda_;
      xq_.resize(x.rows(), in_);
      xn_.resize(0, 0);  // the plain STE never reads it
      row_.resize(in_);
      norm_.forward_rows(x, [&](index i, const auto& y) {
        auto out = xq_.row(i);
        row_ = y;
        if (lam == T(0)) {
          out = row_;
          return;
        }
        ActQ::fake_quantize_row(row_, out);
        if (lam != T(1)) out = row_ + lam * (out - row_);
      });
    } else {
      xn_ = norm_.forward(x);
      xq_ = mix_forward<ActQ>(xn_, lambda_);
    }
    wq_ = mix_forward<WeightQ>(weight_.value, lambda_);
    cached_lambda_ = lambda_;
    has_cache_ = true;
    return xq_ * wq_.transpose();
  }

  /// Uses the lambda and the weights of the last forward (the straight-through rule is
  /// applied at the point the forward pass was evaluated).
  matrix<T> backward(const matrix<T>& dy) {
    if (!has_cache_) throw std::logic_error("bit_linear::backward: called before forward");
    detail::check_shape("bit_linear::backward", "gradient", dy, xq_.rows(), out_);
    const matrix<T> dwq = dy.transpose() * xq_;
    weight_.grad += mix_backward<WeightQ>(weight_.value, dwq, cached_lambda_);
    matrix<T> dxq = dy * wq_;
    if constexpr (fused_input) return norm_.backward(mix_backward_identity(std::move(dxq), cached_lambda_));
    else return norm_.backward(mix_backward<ActQ>(xn_, dxq, cached_lambda_));
  }

  /// Visits "weight", then the norm's parameters as "norm.<name>".
  template <class F>
  void for_each_parameter(F&& f) {
    f(std::string_view("weight"), weight_);
    norm_.for_each_parameter([&](std::string_view name, parameter<T>& p) {
      const std::string full = "norm." + std::string(name);
      f(std::string_view(full), p);
    });
  }

  parameter<T>& weight() { return weight_; }
  const parameter<T>& weight() const { return weight_; }
  Norm& norm() { return norm_; }

  /// The integer codes and scales of the fully quantized weights, for the kernels to pack.
  quantized<T> quantized_weights() const requires CodeQuantizer<WeightQ> {
    return WeightQ::quantize(weight_.value);
  }

 private:
  static index checked_size(index in, index out) {
    if (in <= 0 || out <= 0)
      throw shape_error("bit_linear: in and out must be positive, got in = " + std::to_string(in) +
                        ", out = " + std::to_string(out));
    return in;
  }

  index in_, out_;
  T lambda_ = T(1);
  T cached_lambda_ = T(1);
  bool has_cache_ = false;
  parameter<T> weight_;
  Norm norm_;
  matrix<T> xn_, xq_, wq_;  // cache for backward
  Eigen::Matrix<T, 1, Eigen::Dynamic> row_;  // fused path: one norm output row
};

/// A full-precision linear layer: identity quantizers, no extra norm.
template <class T>
using fp_linear = bit_linear<T, identity_quantizer, identity_quantizer, no_norm<T>>;

static_assert(Layer<bit_linear<float>>);
static_assert(Layer<fp_linear<double>>);

}  // namespace tern
