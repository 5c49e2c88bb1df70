#pragma once
// The absent norm: y = x, dx = dy, no parameters. bit_linear<..., no_norm<T>> is a BitNet
// projection without the extra RMSNorm.
#include <string>

#include "tern/core/layer.hpp"
#include "tern/core/shape_error.hpp"

namespace tern {

template <class T>
class no_norm {
 public:
  using scalar = T;
  explicit no_norm(index features) : features_(features) {
    if (features <= 0) throw shape_error("no_norm: features must be positive, got " + std::to_string(features));
  }

  matrix<T> forward(const matrix<T>& x) {
    detail::check_shape("no_norm::forward", "input", x, -1, features_);
    return x;
  }
  /// forward(x) row by row without a copy: f(i, x.row(i)) (see rms_norm::forward_rows).
  template <class F>
  void forward_rows(const matrix<T>& x, F&& f) {
    detail::check_shape("no_norm::forward_rows", "input", x, -1, features_);
    for (index i = 0; i < x.rows(); ++i) f(i, x.row(i));
  }
  matrix<T> backward(const matrix<T>& dy) {
    detail::check_shape("no_norm::backward", "gradient", dy, -1, features_);
    return dy;
  }
  template <class F>
  void for_each_parameter(F&&) {}

 private:
  index features_;
};

static_assert(Layer<no_norm<float>>);

}  // namespace tern
