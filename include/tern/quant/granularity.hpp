#pragma once
// Where a quantizer's scales live. A scale covers a rectangle of the (rows x cols) input:
//   per_tensor      one scale for the whole matrix                 scales: 1 x 1
//   per_channel     one per row (output channel of W, token of x)  scales: rows x 1
//   per_group<G>    one per row and per G consecutive columns (K)  scales: rows x ceil(cols/G)
// The last group of a row may be shorter than G when cols is not a multiple of G; its scale
// is computed over the elements it really has.
#include <cstddef>

#include "tern/core/matrix.hpp"

namespace tern {

struct per_tensor {
  static index scale_rows(index) { return 1; }
  static index group_size(index cols) { return cols > 0 ? cols : 1; }
};

struct per_channel {
  static index scale_rows(index rows) { return rows; }
  static index group_size(index cols) { return cols > 0 ? cols : 1; }
};

/// G: the number of consecutive elements along a row that share one scale (G >= 1).
template <index G>
struct per_group {
  static_assert(G >= 1, "per_group<G>: G must be at least 1");
  static constexpr index group = G;
  static index scale_rows(index rows) { return rows; }
  static index group_size(index) { return G; }
};

}  // namespace tern
