#pragma once
// One projection of the frozen model: its weights in one of the inference formats and its input
// norm (the paper's extra RMSNorm, or none), y = W norm(x), no bias.
//
// Ternary weights (tq2, tq1; codes w in {-1, 0, 1}, scales beta), int8 activations per token:
//   none       codes of x,            scale_n = gamma_n / 127
//   rms        codes of x,            scale_n = gamma_n / (127 r_n)      (absmax is scale invariant)
//   rms_gain   codes of u = g (.) x,  scale_n = gamma_n(u) / (127 r_n)   r_n = sqrt(mean x_n^2 + eps)
//   y(n, i) = sum_groups float(sum_j w_ij xq_nj) beta_ig * scale_n    (kernels::gemm)
// The norm is never materialised: only its 1/r and its gain enter the quantization. In exact
// arithmetic the codes equal those the training model computes from the normalised input; in
// floating point one may differ by 1 where 127 u / gamma is within rounding of a half-integer
// (see docs/inference.md for what that does to the output).
// Dense weights (f32, bf16, i8): the norm is computed in float first (frozen_norm), then
//   f32    y = xn W^T (Eigen)        bf16   y = xn W~^T (kernels::gemm on packed_bf16)
//   i8     y = (codes(W) . xq(xn)) s_i t_n   (per-row absmax int8 weights, int8 activations)
//
// A frozen_linear is immutable; the buffers a forward needs live in a linear_scratch owned by
// the caller (one per thread).
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

#include "tern/core/matrix.hpp"
#include "tern/core/shape_error.hpp"
#include "tern/infer/dense_f32.hpp"
#include "tern/infer/frozen_norm.hpp"
#include "tern/kernels/gemm.hpp"
#include "tern/kernels/packed_bf16.hpp"
#include "tern/kernels/packed_int8.hpp"
#include "tern/kernels/packed_ternary.hpp"
#include "tern/kernels/packed_ternary_base3.hpp"
#include "tern/kernels/quantized_activations.hpp"

namespace tern::infer {

/// The weight formats of the frozen model (the number is the model file's dtype tag).
enum class weight_format : std::uint32_t {
  f32 = 0,   ///< FP32 (dense_f32)
  bf16 = 1,  ///< bfloat16 (kernels::packed_bf16)
  i8 = 2,    ///< int8 with a per-row absmax scale (kernels::packed_int8)
  tq2 = 3,   ///< ternary, 2 bits per weight (kernels::packed_ternary)
  tq1 = 4,   ///< ternary, 1.6 bits per weight (kernels::packed_ternary_base3)
};

inline std::string_view format_name(weight_format f) {
  switch (f) {
    case weight_format::f32: return "f32";
    case weight_format::bf16: return "bf16";
    case weight_format::i8: return "i8";
    case weight_format::tq2: return "tq2";
    case weight_format::tq1: return "tq1";
  }
  return "?";
}
inline bool is_ternary(weight_format f) { return f == weight_format::tq2 || f == weight_format::tq1; }

/// Buffers of one forward call (reused across calls; one per thread).
struct linear_scratch {
  kernels::quantized_activations act;  ///< int8 activations (ternary and i8 formats)
  matrix<float> xn;                    ///< normalised input (dense formats with a norm)
};

class frozen_linear {
 public:
  using weights = std::variant<dense_f32, kernels::packed_bf16, kernels::packed_int8, kernels::packed_ternary,
                               kernels::packed_ternary_base3>;

  frozen_linear() = default;
  /// w: the weights (out x in); input_norm: the projection's own input norm (features = in).
  frozen_linear(weights w, frozen_norm input_norm) : w_(std::move(w)), norm_(std::move(input_norm)) {
    std::visit([&](const auto& m) {
      if (m.rows() <= 0) throw std::invalid_argument("tern::infer::frozen_linear: empty weights");
      in_ = m.cols();
      out_ = m.rows();
    }, w_);
    format_ = static_cast<weight_format>(w_.index());
    if (norm_.features() != in_)
      throw shape_error("tern::infer::frozen_linear: the input norm has " + std::to_string(norm_.features()) +
                        " features, the weights " + std::to_string(in_) + " inputs");
  }

  index in_features() const { return in_; }
  index out_features() const { return out_; }
  weight_format format() const { return format_; }
  const frozen_norm& input_norm() const { return norm_; }
  const weights& weight() const { return w_; }

  /// Bytes of weights a GEMV streams (packed codes or dense values; scales excluded).
  std::size_t weight_bytes() const {
    return std::visit([](const auto& m) { return m.bytes(); }, w_);
  }
  /// Bytes of scales (ternary and i8 formats).
  std::size_t scale_bytes() const {
    return std::visit([](const auto& m) -> std::size_t {
      using M = std::decay_t<decltype(m)>;
      if constexpr (std::is_same_v<M, kernels::packed_ternary> || std::is_same_v<M, kernels::packed_ternary_base3> ||
                    std::is_same_v<M, kernels::packed_int8>)
        return static_cast<std::size_t>(m.scales().size()) * sizeof(float);
      else
        return 0;
    }, w_);
  }

  /// y (n x out) = W norm(x), x: n x in. sel: a kernels::path (run-time dispatch) or an arch tag
  /// (compile-time path); ex: the executor the kernels split their work over.
  template <class Sel, kernels::executor Exec>
  void forward(const matrix<float>& x, matrix<float>& y, linear_scratch& s, Sel sel, Exec& ex) const {
    tern::detail::check_shape("tern::infer::frozen_linear::forward", "input", x, -1, in_);
    y.resize(x.rows(), out_);
    if (x.rows() == 0) return;
    if (ex.concurrency() > 1 && weight_bytes() * std::size_t(x.rows()) < parallel_bytes) {
      kernels::sequential_executor one;  // too little work to pay for waking other threads
      run(x, y, s, sel, one);
    } else {
      run(x, y, s, sel, ex);
    }
  }

  /// Below this many weight bytes times tokens a forward runs on the calling thread alone: a
  /// hand-off to the executor's threads costs a few microseconds, the work below it less.
  static constexpr std::size_t parallel_bytes = 256 * 1024;

 private:
  template <class Sel, kernels::executor Exec>
  void run(const matrix<float>& x, matrix<float>& y, linear_scratch& s, Sel sel, Exec& ex) const {
    std::visit([&](const auto& w) {
      using W = std::decay_t<decltype(w)>;
      if constexpr (std::is_same_v<W, kernels::packed_ternary> || std::is_same_v<W, kernels::packed_ternary_base3>) {
        const kernels::norm_fold fold = norm_.kind() == norm_kind::none ? kernels::norm_fold::none : kernels::norm_fold::rms;
        kernels::quantize_activations_into(s.act, x.data(), x.rows(), w.layout(), fold, norm_.gain_data(), norm_.eps());
        kernels::gemm(w, s.act, y, sel, ex);
      } else {
        const matrix<float>* in = &x;
        if (norm_.kind() != norm_kind::none) {
          norm_.apply(x, s.xn);
          in = &s.xn;
        }
        if constexpr (std::is_same_v<W, dense_f32>) {
          w.multiply(*in, y, ex);
        } else if constexpr (std::is_same_v<W, kernels::packed_int8>) {
          kernels::quantize_activations_into(s.act, in->data(), in->rows(), w.layout());
          kernels::gemm(w, s.act, y, sel, ex);
        } else {
          kernels::gemm(w, *in, y, sel, ex);
        }
      }
    }, w_);
  }

  weights w_;
  frozen_norm norm_;
  index in_ = 0, out_ = 0;
  weight_format format_ = weight_format::f32;
};

}  // namespace tern::infer
