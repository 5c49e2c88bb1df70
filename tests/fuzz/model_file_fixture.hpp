#pragma once
// What the model-file fuzzer and its seed writer share: small frozen models of every format, and
// the control byte the fuzzer reads before the file.
//   bit 0  verify the tensors' checksums (off: the fuzzer reaches the field and value checks)
//   bit 1  recompute the header checksum over the mutated header and table first, so mutations
//          get past it into the checks behind it
#include <cstdint>
#include <cstring>
#include <random>
#include <string_view>
#include <vector>

#include "tern/infer/freeze.hpp"
#include "tern/io/checksum.hpp"
#include "tern/nn/projection_policy.hpp"
#include "tern/nn/transformer.hpp"

namespace tern_fuzz {

inline constexpr std::uint8_t verify_checksums = 1, fix_header_checksum = 2;

inline tern::transformer_config tiny_config() {
  tern::transformer_config c;
  c.vocab = 16;
  c.dim = 16;
  c.n_layers = 1;
  c.n_heads = 2;
  c.n_kv_heads = 1;
  c.ffn_hidden = 24;
  c.max_seq = 8;
  c.init_std = 0.3;
  return c;
}

/// Frozen models covering the formats, norms and granularities the file holds.
inline std::vector<tern::infer::inference_model> seed_models() {
  namespace ti = tern::infer;
  using grouped = tern::model_policy<tern::projection<tern::absmean_ternary<tern::per_group<8>>, tern::absmax_int8<>, tern::plain_rms_norm>,
                                     tern::ternary_extra_norm_projection>;
  std::vector<ti::inference_model> out;
  tern::transformer<float, tern::extra_norm_policy> paper(tiny_config(), 1);
  out.push_back(ti::freeze(paper));
  out.push_back(ti::freeze(paper, {.ternary = ti::weight_format::tq1, .head = ti::weight_format::i8}));
  tern::transformer<float, grouped> g(tiny_config(), 2);
  out.push_back(ti::freeze(g, {.head = ti::weight_format::bf16}));
  tern::transformer<float, tern::with_head<tern::subln_policy, tern::ternary_projection>> s(tiny_config(), 3);
  out.push_back(ti::freeze(s));
  tern::transformer<float, tern::fp_policy> fp(tiny_config(), 4);
  out.push_back(ti::freeze(fp, {.head = ti::weight_format::i8, .dense = ti::weight_format::bf16}));
  return out;
}

/// Recomputes the header checksum of a model file in place (a no-op on a buffer too short).
inline void fix_checksum(std::vector<std::uint8_t>& f) {
  if (f.size() < 256) return;
  std::uint64_t count;
  std::memcpy(&count, f.data() + 24, 8);
  if (count > (f.size() - 256) / 128) return;
  tern::checksum_state cs;
  cs.update(f.data(), 248);
  cs.update(f.data() + 256, std::size_t(count) * 128);
  const std::uint64_t d = cs.digest();
  std::memcpy(f.data() + 248, &d, 8);
}

}  // namespace tern_fuzz
