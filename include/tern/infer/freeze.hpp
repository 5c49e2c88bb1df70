#pragma once
// freeze: from a trained transformer<float, Policy> to the frozen inference model.
//
//   infer::inference_model m = infer::freeze(trained);                 // ternary as tq2, FP32 head
//   infer::inference_model m = infer::freeze(trained, {.ternary = infer::weight_format::tq1,
//                                                      .head = infer::weight_format::i8});
//
// Per projection (bit_linear<float, WeightQ, ActQ, Norm>), whatever lambda the model is at (the
// frozen model is the fully quantized one, lambda = 1):
//   WeightQ absmean_ternary<G, R, S>, ActQ absmax_int8<round_half_even, S'>
//       -> the ternary codes and scales of WeightQ::quantize (granularity G kept: per tensor,
//          per row or per group) packed as options.ternary (tq2 or tq1); Norm folded into the
//          activation quantization (no_norm: none, gain-free RMSNorm: rms, learned gain: rms_gain)
//   WeightQ identity_quantizer, ActQ identity_quantizer
//       -> dense weights: options.head for the LM head (f32, bf16 or i8), options.dense for any
//          other full-precision projection; Norm computed in float before the product
// Anything else does not compile, with a message saying why (e.g. a round-half-up activation
// quantizer: the kernels round half to even, so its codes would differ).
// Block pre-norms and the final norm: rms_norm (with or without gain) or no_norm.
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tern/infer/dense_f32.hpp"
#include "tern/infer/frozen_linear.hpp"
#include "tern/infer/frozen_norm.hpp"
#include "tern/infer/inference_model.hpp"
#include "tern/kernels/packed_bf16.hpp"
#include "tern/kernels/packed_int8.hpp"
#include "tern/kernels/packed_ternary.hpp"
#include "tern/kernels/packed_ternary_base3.hpp"
#include "tern/nn/bit_linear.hpp"
#include "tern/nn/no_norm.hpp"
#include "tern/nn/projection_policy.hpp"
#include "tern/nn/rms_norm.hpp"
#include "tern/nn/transformer.hpp"
#include "tern/quant/absmax_int8.hpp"
#include "tern/quant/absmean_ternary.hpp"
#include "tern/quant/identity_quantizer.hpp"
#include "tern/quant/rounding.hpp"

namespace tern::infer {

struct freeze_options {
  weight_format ternary = weight_format::tq2;  ///< tq2 or tq1, for every ternary projection
  weight_format head = weight_format::f32;     ///< f32, bf16 or i8, for a full-precision head
  weight_format dense = weight_format::f32;    ///< f32, bf16 or i8, for other full-precision projections
};

namespace detail {

template <class N>
struct norm_traits {
  static constexpr bool supported = false;
};
template <>
struct norm_traits<no_norm<float>> {
  static constexpr bool supported = true;
  static constexpr norm_kind kind = norm_kind::none;
};
template <>
struct norm_traits<rms_norm<float, gain::none>> {
  static constexpr bool supported = true;
  static constexpr norm_kind kind = norm_kind::rms;
};
template <>
struct norm_traits<rms_norm<float, gain::learned>> {
  static constexpr bool supported = true;
  static constexpr norm_kind kind = norm_kind::rms_gain;
};

template <class Q>
struct is_absmean_ternary : std::false_type {};
template <class G, class R, class S>
struct is_absmean_ternary<absmean_ternary<G, R, S>> : std::true_type {};
template <class Q>
struct is_kernel_activation_quantizer : std::false_type {};
template <class S>
struct is_kernel_activation_quantizer<absmax_int8<round_half_even, S>> : std::true_type {};

template <class L>
struct linear_traits {
  static constexpr bool is_bit_linear = false;
};
template <class WQ, class AQ, class N>
struct linear_traits<bit_linear<float, WQ, AQ, N>> {
  static constexpr bool is_bit_linear = true;
  static constexpr bool ternary = is_absmean_ternary<WQ>::value;
  static constexpr bool dense = std::is_same_v<WQ, identity_quantizer>;
  static constexpr bool weights_ok = ternary || dense;
  static constexpr bool activations_ok =
      ternary ? is_kernel_activation_quantizer<AQ>::value : std::is_same_v<AQ, identity_quantizer>;
  static constexpr bool norm_ok = norm_traits<N>::supported;
};

/// Compile-time checks of one projection type, with messages a user can act on.
template <class L>
constexpr void check_freezable() {
  using t = linear_traits<L>;
  static_assert(t::is_bit_linear, "tern::infer::freeze: every projection must be a bit_linear<float, ...>");
  if constexpr (t::is_bit_linear) {
    static_assert(t::weights_ok,
                  "tern::infer::freeze: a projection's weight quantizer must be absmean_ternary<...> (packed ternary) "
                  "or identity_quantizer (dense); the kernels have no format for other codes");
    static_assert(t::activations_ok,
                  "tern::infer::freeze: a ternary projection needs absmax_int8<round_half_even, ...> activations (the "
                  "kernels quantize per token, rounding half to even), and a full-precision projection needs "
                  "identity_quantizer activations");
    static_assert(t::norm_ok,
                  "tern::infer::freeze: a projection's input norm must be no_norm<float> or rms_norm<float, ...>");
  }
}

inline std::vector<float> gain_of(rms_norm<float, gain::learned>& n) {
  const auto& g = n.gain_parameter().value;
  return std::vector<float>(g.data(), g.data() + g.size());
}
template <class N>
std::vector<float> gain_of(N&) {
  return {};
}

template <class N>
frozen_norm freeze_norm(N& n, index features, float eps) {
  static_assert(norm_traits<N>::supported,
                "tern::infer::freeze: block and final norms must be rms_norm<float, ...> or no_norm<float>");
  return frozen_norm(norm_traits<N>::kind, features, gain_of(n), eps);
}

inline frozen_linear::weights dense_weights(const matrix<float>& w, weight_format f) {
  switch (f) {
    case weight_format::f32: return dense_f32(w);
    case weight_format::bf16: return kernels::packed_bf16(w);
    case weight_format::i8: return kernels::packed_int8(w);
    default: throw std::invalid_argument("tern::infer::freeze: " + std::string(format_name(f)) + " is not a dense format");
  }
}

template <class L>
frozen_linear freeze_linear(L& l, weight_format dense_format, const freeze_options& o, float eps) {
  check_freezable<L>();
  using t = linear_traits<L>;
  frozen_norm norm = freeze_norm(l.norm(), l.in_features(), eps);
  if constexpr (t::ternary) {
    const quantized<float> q = l.quantized_weights();
    if (o.ternary == weight_format::tq2) return frozen_linear(kernels::packed_ternary(q), std::move(norm));
    if (o.ternary == weight_format::tq1) return frozen_linear(kernels::packed_ternary_base3(q), std::move(norm));
    throw std::invalid_argument("tern::infer::freeze: options.ternary must be tq2 or tq1, got " +
                                std::string(format_name(o.ternary)));
  } else {
    return frozen_linear(dense_weights(l.weight().value, dense_format), std::move(norm));
  }
}

template <class P>
std::string policy_name() {
  if constexpr (std::is_same_v<P, fp_policy>) return "fp";
  else if constexpr (std::is_same_v<P, qat_policy>) return "qat";
  else if constexpr (std::is_same_v<P, extra_norm_policy>) return "extra_norm";
  else if constexpr (std::is_same_v<P, subln_policy>) return "subln";
  else return "custom";
}

}  // namespace detail

/// The frozen (lambda = 1) inference model of a trained transformer. `m` is only read.
template <ModelPolicy Policy>
inference_model freeze(transformer<float, Policy>& m, const freeze_options& o = {}) {
  const transformer_config& cfg = m.config();
  const float eps = float(cfg.norm_eps);
  std::vector<frozen_block> layers;
  layers.reserve(static_cast<std::size_t>(cfg.n_layers));
  for (index l = 0; l < cfg.n_layers; ++l) {
    auto& b = m.layer(l);
    frozen_block fb;
    fb.attn_norm = detail::freeze_norm(b.attn_norm(), cfg.dim, eps);
    fb.q = detail::freeze_linear(b.attn().q(), o.dense, o, eps);
    fb.k = detail::freeze_linear(b.attn().k(), o.dense, o, eps);
    fb.v = detail::freeze_linear(b.attn().v(), o.dense, o, eps);
    fb.o = detail::freeze_linear(b.attn().o(), o.dense, o, eps);
    fb.mlp_norm = detail::freeze_norm(b.mlp_norm(), cfg.dim, eps);
    fb.gate = detail::freeze_linear(b.mlp().gate(), o.dense, o, eps);
    fb.up = detail::freeze_linear(b.mlp().up(), o.dense, o, eps);
    fb.down = detail::freeze_linear(b.mlp().down(), o.dense, o, eps);
    layers.push_back(std::move(fb));
  }
  frozen_norm final_norm = detail::freeze_norm(m.final_norm(), cfg.dim, eps);
  frozen_linear head = detail::freeze_linear(m.head(), o.head, o, eps);
  return inference_model(cfg, detail::policy_name<Policy>(), dense_f32(m.embed().weight().value), std::move(layers),
                         std::move(final_norm), std::move(head));
}

}  // namespace tern::infer
