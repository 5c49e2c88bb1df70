#pragma once
// The full-precision "quantizer": Q(x) = x, dL/dx = dL/dQ(x). Composing a bit_linear from two
// identity quantizers and no_norm gives a plain linear layer, the FP baseline.
#include "tern/core/shape_error.hpp"
#include "tern/quant/quantizer.hpp"

namespace tern {

struct identity_quantizer {
  template <class T>
  static matrix<T> fake_quantize(const matrix<T>& x) { return x; }

  template <class T>
  static matrix<T> backward(const matrix<T>& x, const matrix<T>& dq) {
    detail::check_same_shape("identity_quantizer::backward", "input", x, "gradient", dq);
    return dq;
  }
};

static_assert(Quantizer<identity_quantizer>);
static_assert(!CodeQuantizer<identity_quantizer>);

}  // namespace tern
