#pragma once
// Global-norm gradient clipping, part of the ternary fine-tuning recipe (it prevents the NaN
// blow-ups that aggressive learning rates cause once quantization switches on).
//
//   n = sqrt(sum over all parameters p, all elements: grad_p^2)    (accumulated in double)
//   if n > max_norm:  grad_p <- grad_p * (max_norm / n)            for every p
// Returns n, the norm BEFORE clipping.
//
// NaN/Inf: if n is not finite (some gradient is NaN or Inf) the gradients are left unchanged
// and the non-finite n is returned; scaling by max_norm / n would only turn every gradient
// into NaN or zero. The caller must check std::isfinite(result) and skip the update (the
// trainer does, and counts the skipped step).
#include <cmath>
#include <stdexcept>
#include <string_view>

#include "tern/optim/parameterized.hpp"
#include "tern/core/parameter.hpp"

namespace tern {

/// The global L2 norm of all parameter gradients of `model`, in double.
template <Parameterized L>
double grad_norm(L& model) {
  double sum = 0.0;
  model.for_each_parameter([&](std::string_view, parameter<typename L::scalar>& p) {
    sum += p.grad.template cast<double>().squaredNorm();
  });
  return std::sqrt(sum);
}

/// Scales all gradients so their global norm is at most max_norm; returns the pre-clip norm.
template <Parameterized L>
double clip_grad_norm(L& model, double max_norm) {
  using T = typename L::scalar;
  if (!(max_norm > 0)) throw std::invalid_argument("clip_grad_norm: max_norm must be > 0");
  const double n = grad_norm(model);
  if (!std::isfinite(n) || n <= max_norm) return n;
  const T scale = T(max_norm / n);
  model.for_each_parameter([&](std::string_view, parameter<T>& p) { p.grad *= scale; });
  return n;
}

}  // namespace tern
