#pragma once
// RMSNorm over the features of every row (token).
//
// Forward, per row x (C features):
//   r     = sqrt(mean_j x_j^2 + eps)                 eps = 1e-6
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
  static constexpr T eps = T(1e-6);

  explicit rms_norm(index features) : features_(features) {
    if (features <= 0) throw shape_error("rms_norm: features must be positive, got " + std::to_string(features));
    if constexpr (G == gain::learned) gain_ = parameter<T>(matrix<T>::Ones(1, features));
  }

  index features() const { return features_; }

  matrix<T> forward(const matrix<T>& x) {
    detail::check_shape("rms_norm::forward", "input", x, -1, features_);
    inv_r_ = ((x.array().square().rowwise().sum() / T(features_)) + eps).rsqrt().matrix();
    xhat_ = inv_r_.asDiagonal() * x;
    for (index i = 0; i < x.rows(); ++i)  // rsqrt(inf) = 0 would zero the row: poison it instead
      if (!(inv_r_(i) > T(0))) xhat_.row(i).setConstant(std::numeric_limits<T>::quiet_NaN());
    if constexpr (G == gain::learned) return xhat_ * gain_.value.row(0).asDiagonal();
    else return xhat_;
  }

  matrix<T> backward(const matrix<T>& dy) {
    if (xhat_.cols() != features_) throw std::logic_error("rms_norm::backward: called before forward");
    detail::check_shape("rms_norm::backward", "gradient", dy, xhat_.rows(), features_);
    matrix<T> dxhat;
    if constexpr (G == gain::learned) {
      gain_.grad += (dy.array() * xhat_.array()).colwise().sum().matrix();
      dxhat = dy * gain_.value.row(0).asDiagonal();
    } else {
      dxhat = dy;
    }
    const Eigen::Matrix<T, Eigen::Dynamic, 1> m =
        (dxhat.array() * xhat_.array()).rowwise().sum() / T(features_);
    return inv_r_.asDiagonal() * (dxhat - m.asDiagonal() * xhat_);
  }

  template <class F>
  void for_each_parameter(F&& f) {
    if constexpr (G == gain::learned) f(std::string_view("gain"), gain_);
  }

  /// The per-channel gain (gain::learned only).
  parameter<T>& gain_parameter() requires(G == gain::learned) { return gain_; }

 private:
  index features_;
  parameter<T> gain_;                              // empty for gain::none
  Eigen::Matrix<T, Eigen::Dynamic, 1> inv_r_;      // cache: 1 / r per row
  matrix<T> xhat_;                                 // cache: x / r
};

static_assert(Layer<rms_norm<float>>);
static_assert(Layer<rms_norm<double, gain::none>>);

}  // namespace tern
