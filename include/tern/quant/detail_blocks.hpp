#pragma once
// Internal: walks the scale blocks of a granularity policy (see granularity.hpp).
#include <algorithm>
#include <cmath>

#include "tern/core/matrix.hpp"

namespace tern::detail {

/// Calls f(r0, c0, nr, nc, si, sg) for every block of rows [r0, r0+nr) x cols [c0, c0+nc)
/// that shares the scale scales(si, sg).
template <class Granularity, class F>
void for_each_scale_block(index rows, index cols, F&& f) {
  const index srows = Granularity::scale_rows(rows);
  const index g = Granularity::group_size(cols);
  const index ngroups = (cols + g - 1) / g;
  const index block_rows = srows == 1 ? rows : 1;
  for (index si = 0; si < srows; ++si)
    for (index sg = 0; sg < ngroups; ++sg) {
      const index c0 = sg * g;
      f(si * block_rows, c0, block_rows, std::min(g, cols - c0), si, sg);
    }
}

template <class Granularity>
index scale_cols(index cols) {
  const index g = Granularity::group_size(cols);
  return (cols + g - 1) / g;
}

/// Position (row, col) of the first non-finite element of m, or (-1, -1).
template <class M>
std::pair<index, index> first_non_finite(const M& m) {
  for (index i = 0; i < m.rows(); ++i)
    for (index j = 0; j < m.cols(); ++j)
      if (!std::isfinite(m(i, j))) return {i, j};
  return {-1, -1};
}

}  // namespace tern::detail
