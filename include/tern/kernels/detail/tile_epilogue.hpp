#pragma once
// The epilogue every tiled path and the AMX path share (reference.hpp has its math:
// detail::add_group, detail::finish_output, which apply_scales uses too).
#include "tern/kernels/detail/common.hpp"

#include <algorithm>
#include <cstdint>

#include "tern/core/matrix.hpp"
#include "tern/kernels/quantized_activations.hpp"
#include "tern/kernels/reference.hpp"

namespace tern::kernels {
inline namespace TERN_KERNELS_ABI {
namespace detail {

/// The epilogue of an R x C tile of outputs (rows i0.., tokens n0..): per group, the offset
/// correction acc = raw - sum(n, g), the accumulators when asked for, and the running
/// sum_g float(acc) beta(i, g); at the end y = that sum times s_n. Rows and tokens past M and N
/// read the last valid ones (their results are dropped), as the tiles' pointers do.
template <int R, int C, class W>
class tile_epilogue {
 public:
  tile_epilogue(const W& w, const quantized_activations& x, index i0, index n0)
      : m_(w.rows()), n_(x.tokens()), i0_(i0), n0_(n0) {
    const index groups = w.layout().groups;
    for (int r = 0; r < R; ++r)
      beta_[r] = w.scales().data() + (w.scales().rows() == 1 ? 0 : std::min(i0 + r, m_ - 1)) * groups;
    for (int c = 0; c < C; ++c) {
      const index n = std::min(n0 + c, n_ - 1);
      tok_[c] = n;
      scale_[c] = x.scale(n);
    }
    x_ = &x;
  }
  /// raw[r * C + c] = sum of codes times activations of group g for row i0 + r, token n0 + c.
  void add_group(index g, const std::int32_t* raw, accumulators* acc) {
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) {
        const std::int32_t v = raw[r * C + c] - x_->sum(tok_[c], g);
        if (acc && i0_ + r < m_ && n0_ + c < n_) (*acc)(n0_ + c, i0_ + r, g) = v;
        f_[r * C + c] = add_group_value(f_[r * C + c], v, beta_[r][g]);
      }
  }
  /// y(n, i) at y[n * M + i], for the tile's valid rows and tokens.
  void store(float* y) const {
    for (int r = 0; r < R && i0_ + r < m_; ++r)
      for (int c = 0; c < C && n0_ + c < n_; ++c) y[(n0_ + c) * m_ + i0_ + r] = finish_output(f_[r * C + c], scale_[c]);
  }

 private:
  static float add_group_value(float f, std::int32_t v, float beta) { return detail::add_group(f, v, beta); }

  index m_, n_, i0_, n0_;
  const float* beta_[R];  // scale row of row i0 + r (clamped): beta(i, g) = beta_[r][g]
  index tok_[C];  // token of column c (clamped)
  float scale_[C];
  const quantized_activations* x_;
  float f_[R * C] = {};
};

}  // namespace detail
}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels
