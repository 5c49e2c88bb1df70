#pragma once
// RMSNorm over the features of every row (token).
//
// Forward, per row x (C features):
//   r     = sqrt(mean_j x_j^2 + eps)                 eps > 0, default 1e-6 (HF rms_norm_eps)
//   xhat  = x / r
//   y     = g (.) xhat                               g: per-channel gain (gain::learned), or 1
// Backward, given dy:
//   dg   += sum over rows of dy (.) xhat             (accumulates, gain::learned only)
//   dxhat = dy (.) g
//   dx    = (dxhat - xhat * mean_j(dxhat_j * xhat_j)) / r
// Cached by forward for backward: xhat and 1/r per row.
// Non-finite input: a row whose mean square is not finite (it holds a NaN or an Inf, or its
// squares overflow T) comes out all NaN, never silently zeroed; other rows are unaffected.
// Backward before any forward throws std::logic_error.
//
// This is both the model's own pre-norm and the paper's "extra RMSNorm" in front of every
// projection. The extra norm's transformers implementation learns g (init 1); the authors'
// inference path uses gain::none, which the kernels fold into the output scale.
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>

#include "tern/core/layer.hpp"
#include "tern/core/shape_error.hpp"

namespace tern {

enum class gain { none, learned };

/// T: scalar type. G: gain::learned (a per-channel gain parameter "gain", init 1) or gain::none.
template <class T, gain G = gain::learned>
class rms_norm {
 public:
  using scalar = T;
  static constexpr gain gain_mode = G;
  /// The epsilon of the paper's and Llama's RMSNorm; models may set another (set_eps).
  static constexpr double default_eps = 1e-6;

  /// features: C, the width of a row; eps: added to the mean square, finite and > 0.
  explicit rms_norm(index features, double eps = default_eps) : features_(features) {
    if (features <= 0) throw shape_error("rms_norm: features must be positive, got " + std::to_string(features));
    set_eps(eps);
    if constexpr (G == gain::learned) gain_ = parameter<T>(matrix<T>::Ones(1, features));
  }

  index features() const { return features_; }
  T eps() const { return eps_; }
  /// Throws std::invalid_argument unless eps is finite and > 0.
  void set_eps(double eps) {
    if (!(eps > 0.0) || !std::isfinite(eps))
      throw std::invalid_argument("rms_norm: eps must be finite and > 0, got " + std::to_string(eps));
    eps_ = T(eps);
  }

  // Both passes work row by row (a row of features stays in L1 between its reads): forward
  // reads x twice (sum of squares, then scale) and writes xhat and y once; backward reads dy
  // and xhat twice (the row's mean and the gain gradient, then dx) and writes dx once.
  matrix<T> forward(const matrix<T>& x) {
    matrix<T> y(x.rows(), features_);
    forward_rows(x, [&](index i, const auto& yi) { y.row(i) = yi; });
    return y;
  }

  /// forward(x) without materialising y: caches what backward needs (1/r, xhat) and hands
  /// every output row to f(i, y_i), y_i an Eigen row expression (g (.) xhat_i, or xhat_i), so
  /// that the consumer (bit_linear's activation quantizer) reads it while it is in L1.
  /// backward() works after forward_rows() as after forward().
  template <class F>
  void forward_rows(const matrix<T>& x, F&& f) {
    detail::check_shape("rms_norm::forward", "input", x, -1, features_);
    const index n = x.rows();
    inv_r_.resize(n);
    xhat_.resize(n, features_);
    // If f throws, the half-written caches are dropped: backward() then throws logic_error.
    struct drop_on_throw {
      rms_norm* self;
      bool done = false;
      ~drop_on_throw() {
        if (!done) {
          self->inv_r_.resize(0);
          self->xhat_.resize(0, 0);
        }
      }
    } guard{this};
    for (index i = 0; i < n; ++i) {
      const T inv = T(1) / std::sqrt(x.row(i).squaredNorm() / T(features_) + eps_);
      inv_r_(i) = inv;
      if (inv > T(0)) {
        xhat_.row(i) = x.row(i) * inv;
      } else {  // the mean square is not finite; rsqrt(inf) = 0 would zero the row: poison it
        xhat_.row(i).setConstant(std::numeric_limits<T>::quiet_NaN());
      }
      if constexpr (G == gain::learned) f(i, xhat_.row(i).cwiseProduct(gain_.value.row(0)));
      else f(i, xhat_.row(i));
    }
    guard.done = true;
  }

  matrix<T> backward(const matrix<T>& dy) {
    if (xhat_.cols() != features_) throw std::logic_error("rms_norm::backward: called before forward");
    detail::check_shape("rms_norm::backward", "gradient", dy, xhat_.rows(), features_);
    matrix<T> dx(dy.rows(), features_);
    for (index i = 0; i < dy.rows(); ++i) {
      const auto xh = xhat_.row(i);
      if constexpr (G == gain::learned) {
        const auto g = gain_.value.row(0);
        const T m = dy.row(i).cwiseProduct(g).dot(xh) / T(features_);
        gain_.grad.row(0) += dy.row(i).cwiseProduct(xh);
        dx.row(i) = inv_r_(i) * (dy.row(i).cwiseProduct(g) - m * xh);
      } else {
        const T m = dy.row(i).dot(xh) / T(features_);
        dx.row(i) = inv_r_(i) * (dy.row(i) - m * xh);
      }
    }
    return dx;
  }

  template <class F>
  void for_each_parameter(F&& f) {
    if constexpr (G == gain::learned) f(std::string_view("gain"), gain_);
  }

  /// The per-channel gain (gain::learned only).
  parameter<T>& gain_parameter() requires(G == gain::learned) { return gain_; }

 private:
  index features_;
  T eps_ = T(default_eps);
  parameter<T> gain_;                              // empty for gain::none
  Eigen::Matrix<T, Eigen::Dynamic, 1> inv_r_;      // cache: 1 / r per row
  matrix<T> xhat_;                                 // cache: x / r
};

static_assert(Layer<rms_norm<float>>);
static_assert(Layer<rms_norm<double, gain::none>>);

}  // namespace tern
