#pragma once
// Compile-time composition of a transformer's projections.
//
// A *projection* says how one linear map is built: its weight quantizer, its activation
// quantizer and its input norm (the "extra RMSNorm" of the paper, a SubLN norm, or none).
// Its nested alias `linear<T>` is the bit_linear type for scalar T.
//
// A *model policy* gives one projection per role in a block, the norms of the block, and the
// LM head's projection:
//   attn_in   q, k, v          attn_out  o
//   mlp_in    gate, up         mlp_out   down
//   head      the LM head (full precision by default)
//   norm<T>   the block's two pre-norms;   final_norm<T>  the norm before the head
// Every variant of the method is therefore a distinct type, and a user policy is any struct
// with these members (see docs/composition.md):
//
//   fp_policy           identity quantizers, no extra norm: the full-precision model
//   qat_policy          BitNet b1.58 QAT: absmean ternary weights, absmax int8 activations
//   extra_norm_policy   qat_policy plus an RMSNorm (learned gain, init 1) on the input of
//                       every projection: the recipe of Steinmetz et al. 2025
//   subln_policy        BitNet's SubLN placement: one learned RMSNorm inside o and down
//                       only; q, k, v, gate, up rely on the block's pre-norm (so each
//                       quantized matmul sees exactly one norm). Remove the pre-norms too with
//                       with_block_norm<subln_policy, no_norm>.
//   with_head<P, H>     policy P with the head built from projection H, e.g. a ternary head
//   with_block_norm<P, N>  policy P with the block pre-norms replaced by N<T>
#include "tern/core/layer.hpp"
#include "tern/nn/bit_linear.hpp"
#include "tern/nn/no_norm.hpp"
#include "tern/nn/rms_norm.hpp"
#include "tern/quant/absmax_int8.hpp"
#include "tern/quant/absmean_ternary.hpp"
#include "tern/quant/identity_quantizer.hpp"

namespace tern {

/// RMSNorm with a learned per-channel gain (init 1), as a one-parameter template.
template <class T>
using learned_rms_norm = rms_norm<T, gain::learned>;

/// RMSNorm without gain, as a one-parameter template.
template <class T>
using plain_rms_norm = rms_norm<T, gain::none>;

/// WeightQ, ActQ: quantizer policies (quant/); InputNorm<T>: the norm applied to the
/// projection's input inside bit_linear (no_norm for none).
template <class WeightQ, class ActQ, template <class> class InputNorm = no_norm>
struct projection {
  using weight_quantizer = WeightQ;
  using activation_quantizer = ActQ;
  template <class T>
  using linear = bit_linear<T, WeightQ, ActQ, InputNorm<T>>;
};

using fp_projection = projection<identity_quantizer, identity_quantizer, no_norm>;
using ternary_projection = projection<absmean_ternary<>, absmax_int8<>, no_norm>;
using ternary_extra_norm_projection = projection<absmean_ternary<>, absmax_int8<>, learned_rms_norm>;

/// AttnIn (q,k,v), AttnOut (o), MlpIn (gate,up), MlpOut (down), Head: projections;
/// BlockNorm<T>: the two pre-norms of each block; FinalNorm<T>: the norm before the head.
template <class AttnIn, class AttnOut = AttnIn, class MlpIn = AttnIn, class MlpOut = AttnOut,
          class Head = fp_projection, template <class> class BlockNorm = learned_rms_norm,
          template <class> class FinalNorm = learned_rms_norm>
struct model_policy {
  using attn_in = AttnIn;
  using attn_out = AttnOut;
  using mlp_in = MlpIn;
  using mlp_out = MlpOut;
  using head = Head;
  template <class T>
  using norm = BlockNorm<T>;
  template <class T>
  using final_norm = FinalNorm<T>;
};

/// What a model policy must provide (checked where transformer_block and transformer are
/// instantiated). What the compiler cannot check: norm<T> and final_norm<T> are constructible
/// from the feature count, and every linear<T> from (in, out), as bit_linear is.
template <class P>
concept ModelPolicy = requires {
  typename P::attn_in::template linear<float>;
  typename P::attn_out::template linear<float>;
  typename P::mlp_in::template linear<float>;
  typename P::mlp_out::template linear<float>;
  typename P::head::template linear<float>;
  typename P::template norm<float>;
  typename P::template final_norm<float>;
} && Layer<typename P::attn_in::template linear<float>> && Layer<typename P::attn_out::template linear<float>> &&
                      Layer<typename P::mlp_in::template linear<float>> && Layer<typename P::mlp_out::template linear<float>> &&
                      Layer<typename P::head::template linear<float>> && Layer<typename P::template norm<float>> &&
                      Layer<typename P::template final_norm<float>>;

using fp_policy = model_policy<fp_projection>;
using qat_policy = model_policy<ternary_projection>;
using extra_norm_policy = model_policy<ternary_extra_norm_projection>;
using subln_policy = model_policy<ternary_projection, ternary_extra_norm_projection,
                                  ternary_projection, ternary_extra_norm_projection>;

/// Policy P with its LM head built from projection Head (e.g. ternary_projection).
template <class P, class Head>
struct with_head : P {
  using head = Head;
};

/// Policy P with the block pre-norms replaced by Norm<T> (e.g. no_norm).
template <class P, template <class> class Norm>
struct with_block_norm : P {
  template <class T>
  using norm = Norm<T>;
};

static_assert(ModelPolicy<fp_policy> && ModelPolicy<qat_policy> && ModelPolicy<extra_norm_policy> &&
              ModelPolicy<subln_policy> && ModelPolicy<with_head<extra_norm_policy, ternary_projection>> &&
              ModelPolicy<with_block_norm<subln_policy, no_norm>>);

}  // namespace tern
