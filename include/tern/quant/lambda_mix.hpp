#pragma once
// Gradual quantization by mixing (the Hugging Face lambda warmup):
//   forward:   x_eff = x + lambda * (Q(x) - x)          lambda = 0: FP, lambda = 1: Q(x)
//   backward:  dL/dx = (1 - lambda) * g + lambda * Q::backward(x, g)      g = dL/dx_eff
// With the plain STE Q::backward(x, g) = g, so the backward is the identity for any lambda;
// with a clipped STE the mask is weighted by lambda. lambda outside [0, 1] is rejected.
#include <stdexcept>
#include <string>
#include <type_traits>

#include "tern/quant/quantizer.hpp"

namespace tern {

namespace detail {
template <class T>
void check_lambda(T lambda) {
  if (!(lambda >= T(0) && lambda <= T(1)))
    throw std::invalid_argument("lambda_mix: lambda = " + std::to_string(double(lambda)) +
                                " is outside [0, 1]");
}
}  // namespace detail

template <Quantizer Q, class T>
matrix<T> mix_forward(const matrix<T>& x, std::type_identity_t<T> lambda) {
  detail::check_lambda(lambda);
  if (lambda == T(0)) return x;  // FP: skip the quantizer's cost entirely
  if (lambda == T(1)) return Q::fake_quantize(x);
  return x + lambda * (Q::fake_quantize(x) - x);
}

template <Quantizer Q, class T>
matrix<T> mix_backward(const matrix<T>& x, const matrix<T>& g, std::type_identity_t<T> lambda) {
  detail::check_lambda(lambda);
  if (lambda == T(0)) return g;
  if (lambda == T(1)) return Q::backward(x, g);
  return (T(1) - lambda) * g + lambda * Q::backward(x, g);
}

/// mix_backward for a quantizer whose backward is the identity (the plain STE), without its
/// input x: the same formula, so the same values as mix_backward<Q>(x, g, lambda).
template <class T>
matrix<T> mix_backward_identity(matrix<T> g, std::type_identity_t<T> lambda) {
  detail::check_lambda(lambda);
  if (lambda == T(0) || lambda == T(1)) return g;
  return (T(1) - lambda) * g + lambda * g;
}

}  // namespace tern
