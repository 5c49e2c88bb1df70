#pragma once
// Data parallelism's split of a global batch: every rank draws the SAME global batch of B
// windows (the same data rng, seeded alike, advanced alike) and keeps its own contiguous rows,
//
//   rank r of R keeps windows [floor(r B / R), floor((r + 1) B / R))
//
// so the shards are disjoint, cover the global batch, differ in size by at most one window, and
// the global batch (hence the data a run sees) does not depend on R. B >= R is required: a
// rank with no window would have no loss to average.
#include <cstddef>
#include <stdexcept>
#include <string>

#include "tern/core/matrix.hpp"
#include "tern/data/byte_corpus.hpp"  // token_batch

namespace tern::dist {

/// The windows [begin, begin + count) of a global batch of `batch` windows that rank `rank` of
/// `size` keeps.
struct shard_range {
  index begin = 0, count = 0;
};

inline shard_range shard_of(index batch, int rank, int size) {
  if (size < 1 || rank < 0 || rank >= size)
    throw std::invalid_argument("shard_of: rank " + std::to_string(rank) + " is not in [0, " + std::to_string(size) + ")");
  if (batch < size)
    throw std::invalid_argument("shard_of: a global batch of " + std::to_string(batch) + " windows cannot give each of " +
                                std::to_string(size) + " ranks a window (use a batch >= the number of ranks)");
  const index b0 = batch * rank / size, b1 = batch * (rank + 1) / size;  // batch <= 2^28: no overflow
  return {b0, b1 - b0};
}

/// Rank `rank`'s windows of the global batch `global` (see shard_of), as a batch of their own.
inline token_batch shard_batch(const token_batch& global, int rank, int size) {
  const shard_range r = shard_of(global.batch, rank, size);
  token_batch out;
  out.batch = r.count;
  out.seq = global.seq;
  const auto first = static_cast<std::ptrdiff_t>(r.begin * global.seq);
  const auto last = static_cast<std::ptrdiff_t>((r.begin + r.count) * global.seq);
  out.inputs.assign(global.inputs.begin() + first, global.inputs.begin() + last);
  out.targets.assign(global.targets.begin() + first, global.targets.begin() + last);
  return out;
}

}  // namespace tern::dist
