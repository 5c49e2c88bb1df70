// Small frozen models for the GGUF tests (rows of 256 and 512 weights: TQ blocks fit).
#pragma once
#include <random>
#include <string_view>

#include "tern/infer/freeze.hpp"
#include "tern/nn/projection_policy.hpp"
#include "tern/nn/transformer.hpp"
#include "tern/quant/granularity.hpp"

namespace tern::gguf_test {

inline transformer_config config(index dim = 256, index ffn = 512) {
  transformer_config c;
  c.vocab = 256;
  c.dim = dim;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.ffn_hidden = ffn;
  c.max_seq = 32;
  c.init_std = 0.05;
  return c;
}

using per_row_projection = projection<absmean_ternary<per_channel>, absmax_int8<>, no_norm>;
using per_group_projection = projection<absmean_ternary<per_group<256>>, absmax_int8<>, no_norm>;
using group128_projection = projection<absmean_ternary<per_group<128>>, absmax_int8<>, no_norm>;
using plain_norm_projection = projection<absmean_ternary<>, absmax_int8<>, plain_rms_norm>;
using per_row_policy = model_policy<per_row_projection>;
using per_group_policy = model_policy<per_group_projection>;
using group128_policy = model_policy<group128_projection>;
/// Gain-free extra norms on q k v, learned ones on gate up, none on o and down.
using mixed_norm_policy = model_policy<plain_norm_projection, ternary_projection, ternary_extra_norm_projection, ternary_projection>;

/// A frozen model of policy P with random (non-unit) norm gains.
template <class P>
infer::inference_model frozen(const transformer_config& c = config(), const infer::freeze_options& o = {}, std::uint64_t seed = 1) {
  transformer<float, P> m(c, seed);
  std::mt19937 rng(static_cast<unsigned>(seed));
  std::uniform_real_distribution<float> g(0.5f, 1.5f);
  m.for_each_parameter([&](std::string_view name, parameter<float>& p) {
    if (name.ends_with("gain"))
      for (index i = 0; i < p.value.size(); ++i) p.value.data()[i] = g(rng);
  });
  return infer::freeze(m, o);
}

}  // namespace tern::gguf_test
