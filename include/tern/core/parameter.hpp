#pragma once
// A learnable tensor and its gradient.
//
// The gradient rule, followed by every layer in tern:
//   * parameter gradients ACCUMULATE: backward() adds into parameter::grad, so several
//     backward passes (micro-batches, tied weights) sum; the optimizer's caller zeroes them;
//   * activation gradients are RETURNED: backward(dy) returns dL/dx as a fresh matrix.
#include <string>

#include "tern/core/matrix.hpp"

namespace tern {

template <class T>
struct parameter {
  matrix<T> value;
  matrix<T> grad;

  parameter() = default;
  explicit parameter(matrix<T> v) : value(std::move(v)), grad(matrix<T>::Zero(value.rows(), value.cols())) {}

  void zero_grad() { grad.setZero(value.rows(), value.cols()); }
};

}  // namespace tern
