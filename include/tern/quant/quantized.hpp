#pragma once
// The integer form of a quantized matrix: what the kernels pack and what checkpoints store.
//
//   codes   rows x cols, int8: {-1, 0, +1} for ternary weights, [-128, 127] for int8 activations
//   scales  scale_rows x ceil(cols / group): the DEQUANTIZATION multipliers, so that
//           x~(i, j) = codes(i, j) * scales(scale_rows == 1 ? 0 : i, j / group)
//           (ternary: beta; int8 absmax: gamma / 127)
//   group   columns per scale along a row (cols for per-tensor and per-channel)
#include <cstdint>

#include "tern/core/matrix.hpp"

namespace tern {

template <class T>
struct quantized {
  matrix<std::int8_t> codes;
  matrix<T> scales;
  index group = 1;

  index rows() const { return codes.rows(); }
  index cols() const { return codes.cols(); }

  /// The scale that multiplies codes(i, j).
  T scale(index i, index j) const { return scales(scales.rows() == 1 ? 0 : i, j / group); }

  /// codes * scales, the dequantized matrix x~.
  matrix<T> dequantize() const {
    matrix<T> out(rows(), cols());
    for (index i = 0; i < rows(); ++i)
      for (index j = 0; j < cols(); ++j) out(i, j) = T(codes(i, j)) * scale(i, j);
    return out;
  }
};

}  // namespace tern
