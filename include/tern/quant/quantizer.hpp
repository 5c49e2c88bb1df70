#pragma once
// The Quantizer concepts: a quantizer is a stateless policy type with static functions.
//
//   Q::fake_quantize(x) -> matrix<T>        Q(x), dequantized (same shape as x)
//   Q::backward(x, dq)  -> matrix<T>        dL/dx from dL/dQ(x) at the input x (the STE)
// CodeQuantizer adds
//   Q::quantize(x)      -> quantized<T>     the integer codes and scales, for kernels and files
//
// What the compiler cannot check: fake_quantize(x) == quantize(x).dequantize() exactly, and a
// zero input quantizes to zero (the eps floors), never to NaN.
#include <concepts>

#include "tern/core/matrix.hpp"
#include "tern/quant/quantized.hpp"

namespace tern {

template <class Q>
concept Quantizer = requires(const matrix<float>& xf, const matrix<double>& xd) {
  { Q::fake_quantize(xf) } -> std::same_as<matrix<float>>;
  { Q::fake_quantize(xd) } -> std::same_as<matrix<double>>;
  { Q::backward(xf, xf) } -> std::same_as<matrix<float>>;
  { Q::backward(xd, xd) } -> std::same_as<matrix<double>>;
};

template <class Q>
concept CodeQuantizer = Quantizer<Q> && requires(const matrix<float>& xf) {
  { Q::quantize(xf) } -> std::same_as<quantized<float>>;
};

}  // namespace tern
