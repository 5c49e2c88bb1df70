#pragma once
// An RMSNorm of the frozen model, computed in float exactly as the training layer computes it
// (nn/rms_norm.hpp), row by row:
//   inv = 1 / sqrt(sum_j x_j^2 / C + eps)      (float)
//   y   = (x * inv) (.) g                      (rms_gain; rms: y = x * inv; none: y = x)
// Used for the block pre-norms and the final norm, and for the extra norm of a full-precision
// projection; a ternary projection's extra norm is folded into its activation quantization
// instead (frozen_linear).
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tern/core/matrix.hpp"
#include "tern/core/shape_error.hpp"

namespace tern::infer {

/// How a norm of the frozen model acts (its number is its tag in the model file).
enum class norm_kind : std::uint32_t {
  none = 0,      ///< no norm: y = x
  rms = 1,       ///< RMSNorm without a gain
  rms_gain = 2,  ///< RMSNorm with a learned per-channel gain
};

inline std::string_view norm_kind_name(norm_kind k) {
  switch (k) {
    case norm_kind::none: return "none";
    case norm_kind::rms: return "rms";
    case norm_kind::rms_gain: return "rms_gain";
  }
  return "?";
}

class frozen_norm {
 public:
  frozen_norm() = default;
  /// features: C; gain: C values for rms_gain, empty otherwise; eps > 0.
  frozen_norm(norm_kind kind, index features, std::vector<float> gain = {}, float eps = 1e-6f)
      : kind_(kind), features_(features), gain_(std::move(gain)), eps_(eps) {
    if (features <= 0) throw shape_error("tern::infer::frozen_norm: features must be positive");
    if (kind != norm_kind::none && kind != norm_kind::rms && kind != norm_kind::rms_gain)
      throw std::invalid_argument("tern::infer::frozen_norm: unknown norm kind " + std::to_string(std::uint32_t(kind)));
    const std::size_t want = kind == norm_kind::rms_gain ? std::size_t(features) : 0;
    if (gain_.size() != want)
      throw shape_error("tern::infer::frozen_norm: a " + std::string(norm_kind_name(kind)) + " norm of " +
                        std::to_string(features) + " features needs " + std::to_string(want) + " gains, got " +
                        std::to_string(gain_.size()));
    if (!(eps > 0.0f) || !std::isfinite(eps)) throw std::invalid_argument("tern::infer::frozen_norm: eps must be finite and > 0");
    for (float g : gain_)
      if (!std::isfinite(g)) throw std::domain_error("tern::infer::frozen_norm: a gain is not finite");
  }

  norm_kind kind() const { return kind_; }
  index features() const { return features_; }
  const std::vector<float>& gain() const { return gain_; }
  const float* gain_data() const { return gain_.empty() ? nullptr : gain_.data(); }
  float eps() const { return eps_; }

  /// y = norm(x), row by row (x: rows x C); y may be x.
  void apply(const matrix<float>& x, matrix<float>& y) const {
    tern::detail::check_shape("tern::infer::frozen_norm", "input", x, -1, features_);
    if (&y != &x) y.resize(x.rows(), features_);
    if (kind_ == norm_kind::none) {
      if (&y != &x) y = x;
      return;
    }
    const Eigen::Map<const Eigen::Matrix<float, 1, Eigen::Dynamic>> g(gain_data(), kind_ == norm_kind::rms_gain ? features_ : 0);
    for (index i = 0; i < x.rows(); ++i) {
      const float inv = 1.0f / std::sqrt(x.row(i).squaredNorm() / float(features_) + eps_);
      if (kind_ == norm_kind::rms_gain) y.row(i) = (x.row(i) * inv).cwiseProduct(g);
      else y.row(i) = x.row(i) * inv;
    }
  }

 private:
  norm_kind kind_ = norm_kind::none;
  index features_ = 0;
  std::vector<float> gain_;
  float eps_ = 1e-6f;
};

}  // namespace tern::infer
