#pragma once
// A frozen model (infer::inference_model) as a GGUF file, out and in (docs/gguf.md).
//
//   save_gguf("m.gguf", model);                    // llama, or tern-llama with per-projection norms
//   infer::inference_model m = load_gguf("m.gguf"); // llama / tern-llama, F32 F16 BF16 TQ1_0 TQ2_0
//
// Architectures:
//   llama        no projection has an input norm, the block and final norms are RMSNorms
//                (a gain-free one is written with gains of 1: the same function). llama.cpp
//                loads it as is.
//   tern-llama   the same tensors and llama's keys under the tern-llama prefix, plus the paper's
//                per-projection norms: tern-llama.norm.{block, final, attn_in, attn_out, mlp_in,
//                mlp_out, head} = "none" | "rms" | "rms_gain", and for every rms_gain norm of a
//                projection a tensor <projection>.rms_norm.weight (e.g. blk.0.attn_q.rms_norm.weight,
//                output.rms_norm.weight), the names of the transformers BitNet integration
//                (<linear>.rms_norm.weight). Only tern reads it.
// Tensor mapping (tern -> GGUF; a weight of out x in has dims [in, out]):
//   embedding                 token_embd.weight            F32
//   layers.l.attn_norm        blk.l.attn_norm.weight       F32 gains
//   layers.l.attn.{q,k,v,o}   blk.l.attn_{q,k,v,output}.weight
//   layers.l.mlp_norm         blk.l.ffn_norm.weight
//   layers.l.mlp.{gate,up,down} blk.l.ffn_{gate,up,down}.weight
//   norm, head                output_norm.weight, output.weight (absent on import: tied to the embedding)
// RoPE: tern rotates the pairs (j, j + d/2) of each head (the Hugging Face convention), llama.cpp's
// llama the adjacent pairs (2j, 2j + 1). The rows of q and k are permuted per head on export,
// GGUF row h d + 2 j + s = tern row h d + s d/2 + j (j < d/2, s in {0, 1}), and back on import, so
// both compute the same attention scores. The permutation moves whole rows (codes and row scales
// alike), so it is exact.
// Weights: ternary projections as TQ2_0 (tern tq2) or TQ1_0 (tern tq1), or as asked
// (gguf_export_options::ternary); each 256-weight block's d is the projection's scale for those
// weights rounded to f16 (one scale per tensor, per row, or per group of a multiple of 256
// columns; other groups cannot be expressed: gguf_error). A row length that is not a multiple of
// 256 cannot be TQ: gguf_error, unless gguf_export_options::fallback names F32, F16 or BF16, which
// then holds the dequantized weights. f32 and bf16 weights are written as F32 and BF16; i8
// needs the fallback.
// Import: TQ2_0 -> tq2, TQ1_0 -> tq1 (codes exact, scales the f16 d values), with per role (q k v /
// o / gate up / down / head) the coarsest scale granularity that holds every d of every layer
// (tensor, row, or groups of 256); F32 and F16 -> f32, BF16 -> bf16. Every key and tensor is
// checked (presence, type, dims, finite values, valid codes); anything a llama model does not
// hold (extra tensors, MoE, RoPE scaling, a partial rotary dimension) is refused by name.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tern/infer/dense_f32.hpp"
#include "tern/infer/frozen_linear.hpp"
#include "tern/infer/frozen_norm.hpp"
#include "tern/infer/inference_model.hpp"
#include "tern/io/gguf_file.hpp"
#include "tern/io/gguf_quants.hpp"
#include "tern/io/gguf_writer.hpp"
#include "tern/kernels/packed_bf16.hpp"
#include "tern/kernels/packed_int8.hpp"
#include "tern/kernels/packed_ternary.hpp"
#include "tern/kernels/packed_ternary_base3.hpp"

namespace tern {

/// A tokenizer vocabulary as GGUF stores it (tokenizer.ggml.*).
struct gguf_vocab {
  std::string model = "gpt2";   ///< tokenizer.ggml.model: gpt2 (byte-level BPE), llama (SentencePiece)
  std::string pre = "default";  ///< tokenizer.ggml.pre
  std::vector<std::string> tokens;
  std::vector<float> scores;             ///< empty: not written
  std::vector<std::int32_t> token_types; ///< 1 normal, 2 unknown, 3 control, 6 byte; empty: all 1
  std::vector<std::string> merges;       ///< gpt2 only (written even when empty)
  std::int64_t bos = -1, eos = -1, unk = -1, pad = -1;
  bool add_bos = false;
  friend bool operator==(const gguf_vocab&, const gguf_vocab&) = default;
};

/// GPT-2's byte-to-unicode map: the printable bytes 33..126, 161..172, 174..255 stand for
/// themselves, the other 68 for the code points 256, 257, ... in byte order; as UTF-8.
inline std::string gguf_gpt2_byte_symbol(unsigned b) {
  unsigned cp = b;
  if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) {
    unsigned n = 0;
    for (unsigned c = 0; c < b; ++c)
      if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255))) ++n;
    cp = 256 + n;
  }
  std::string s;
  if (cp < 0x80) {
    s += char(cp);
  } else {
    s += char(0xc0 | (cp >> 6));
    s += char(0x80 | (cp & 0x3f));
  }
  return s;
}

/// tern's byte vocabulary (ids 0..255 are the bytes) as a gpt2 BPE vocabulary with no merges;
/// ids from 256 up to vocab - 1 become control tokens <|tern_N|>.
inline gguf_vocab gguf_byte_vocab(index vocab) {
  gguf_vocab v;
  for (index i = 0; i < vocab; ++i) {
    if (i < 256) {
      v.tokens.push_back(gguf_gpt2_byte_symbol(unsigned(i)));
      v.token_types.push_back(1);
    } else {
      v.tokens.push_back("<|tern_" + std::to_string(i) + "|>");
      v.token_types.push_back(3);
    }
  }
  return v;
}

struct gguf_export_options {
  std::string name = "tern";                      ///< general.name
  std::optional<gguf_tensor_type> ternary;        ///< type of ternary projections (default: tq2 -> TQ2_0, tq1 -> TQ1_0)
  std::optional<gguf_tensor_type> fallback;       ///< F32, F16 or BF16 for projections no TQ type holds
  std::optional<gguf_vocab> vocab;                ///< default: gguf_byte_vocab(config().vocab)
};

namespace detail::gguf_model {

inline constexpr index max_vocab = index(1) << 24, max_dim = index(1) << 16, max_layers = 4096, max_ffn = index(1) << 20,
                       max_seq = index(1) << 20;

inline const char* norm_name(infer::norm_kind k) {
  return k == infer::norm_kind::none ? "none" : k == infer::norm_kind::rms ? "rms" : "rms_gain";
}

/// Source row (tern order) of GGUF row r of a q or k projection with heads of d rows.
inline index rope_source_row(index r, index d) {
  const index h = r / d, k = r % d, j = k / 2, s = k % 2;
  return h * d + s * (d / 2) + j;
}

inline std::vector<std::uint8_t> encode_dense(const matrix<float>& w, gguf_tensor_type t, const std::vector<index>& rows) {
  const std::size_t n = std::size_t(w.rows() * w.cols());
  std::vector<std::uint8_t> out(n * (t == gguf_tensor_type::f32 ? 4 : 2));
  std::size_t at = 0;
  for (index r = 0; r < w.rows(); ++r)
    for (index j = 0; j < w.cols(); ++j) {
      const float v = w(rows.empty() ? r : rows[std::size_t(r)], j);
      if (t == gguf_tensor_type::f32) {
        std::memcpy(out.data() + at, &v, 4);
        at += 4;
      } else {
        const std::uint16_t h = t == gguf_tensor_type::f16 ? gguf_quants::to_f16(v) : gguf_quants::to_bf16(v);
        std::memcpy(out.data() + at, &h, 2);
        at += 2;
      }
    }
  return out;
}

/// Exports one model (see the file comment).
class exporter {
 public:
  exporter(const infer::inference_model& m, const gguf_export_options& o) : m_(m), o_(o) {}

  gguf_writer run() {
    const transformer_config& c = m_.config();
    const infer::model_desc& d = m_.desc();
    const bool extra = d.attn_in.norm != infer::norm_kind::none || d.attn_out.norm != infer::norm_kind::none ||
                       d.mlp_in.norm != infer::norm_kind::none || d.mlp_out.norm != infer::norm_kind::none ||
                       d.head.norm != infer::norm_kind::none || d.block_norm == infer::norm_kind::none ||
                       d.final_norm == infer::norm_kind::none;
    arch_ = extra ? "tern-llama" : "llama";
    if (o_.fallback && *o_.fallback != gguf_tensor_type::f32 && *o_.fallback != gguf_tensor_type::f16 &&
        *o_.fallback != gguf_tensor_type::bf16)
      throw gguf_error("save_gguf: the fallback type must be F32, F16 or BF16");
    gguf_writer w;
    const std::string a = arch_ + ".";
    w.set("general.architecture", arch_);
    w.set("general.name", o_.name);
    w.set("general.alignment", std::uint32_t(32));
    w.set(a + "context_length", std::uint32_t(c.max_seq));
    w.set(a + "embedding_length", std::uint32_t(c.dim));
    w.set(a + "block_count", std::uint32_t(c.n_layers));
    w.set(a + "feed_forward_length", std::uint32_t(c.ffn_hidden));
    w.set(a + "rope.dimension_count", std::uint32_t(c.dim / c.n_heads));
    w.set(a + "attention.head_count", std::uint32_t(c.n_heads));
    w.set(a + "attention.head_count_kv", std::uint32_t(c.n_kv_heads));
    w.set(a + "attention.layer_norm_rms_epsilon", float(c.norm_eps));
    w.set(a + "rope.freq_base", float(c.rope_base));
    w.set(a + "vocab_size", std::uint32_t(c.vocab));
    if (extra) {
      w.set(a + "norm.block", norm_name(d.block_norm));
      w.set(a + "norm.final", norm_name(d.final_norm));
      w.set(a + "norm.attn_in", norm_name(d.attn_in.norm));
      w.set(a + "norm.attn_out", norm_name(d.attn_out.norm));
      w.set(a + "norm.mlp_in", norm_name(d.mlp_in.norm));
      w.set(a + "norm.mlp_out", norm_name(d.mlp_out.norm));
      w.set(a + "norm.head", norm_name(d.head.norm));
    }
    vocab(w);

    const index hd = c.dim / c.n_heads;
    w.add_tensor("token_embd.weight", {std::uint64_t(c.dim), std::uint64_t(c.vocab)}, gguf_tensor_type::f32,
                 encode_dense(matrix<float>(m_.embedding().view()), gguf_tensor_type::f32, {}));
    for (index l = 0; l < c.n_layers; ++l) {
      const infer::frozen_block& b = m_.layer(l);
      const std::string p = "blk." + std::to_string(l) + ".";
      norm(w, p + "attn_norm.weight", b.attn_norm, extra);
      linear(w, p + "attn_q", b.q, hd);
      linear(w, p + "attn_k", b.k, hd);
      linear(w, p + "attn_v", b.v, 0);
      linear(w, p + "attn_output", b.o, 0);
      norm(w, p + "ffn_norm.weight", b.mlp_norm, extra);
      linear(w, p + "ffn_gate", b.gate, 0);
      linear(w, p + "ffn_up", b.up, 0);
      linear(w, p + "ffn_down", b.down, 0);
    }
    norm(w, "output_norm.weight", m_.final_norm(), extra);
    linear(w, "output", m_.head(), 0);
    if (quantized_) w.set("general.quantization_version", std::uint32_t(2));
    return w;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw gguf_error("save_gguf: " + what); }

  void vocab(gguf_writer& w) const {
    const gguf_vocab v = o_.vocab ? *o_.vocab : gguf_byte_vocab(m_.config().vocab);
    if (index(v.tokens.size()) != m_.config().vocab)
      fail("the vocabulary has " + std::to_string(v.tokens.size()) + " tokens, the model " + std::to_string(m_.config().vocab));
    gguf_value::array toks, types, scores, merges;
    for (const auto& t : v.tokens) toks.emplace_back(t);
    for (std::size_t i = 0; i < v.tokens.size(); ++i) types.emplace_back(v.token_types.empty() ? std::int32_t(1) : v.token_types.at(i));
    w.set("tokenizer.ggml.model", v.model);
    w.set("tokenizer.ggml.pre", v.pre);
    w.set("tokenizer.ggml.tokens", gguf_value(gguf_type::string, std::move(toks)));
    w.set("tokenizer.ggml.token_type", gguf_value(gguf_type::i32, std::move(types)));
    if (!v.scores.empty()) {
      for (float s : v.scores) scores.emplace_back(s);
      w.set("tokenizer.ggml.scores", gguf_value(gguf_type::f32, std::move(scores)));
    }
    if (v.model == "gpt2") {
      for (const auto& m : v.merges) merges.emplace_back(m);
      w.set("tokenizer.ggml.merges", gguf_value(gguf_type::string, std::move(merges)));
    }
    const auto id = [&](const char* key, std::int64_t t) {
      if (t >= 0) w.set(key, std::uint32_t(t));
    };
    id("tokenizer.ggml.bos_token_id", v.bos);
    id("tokenizer.ggml.eos_token_id", v.eos);
    id("tokenizer.ggml.unknown_token_id", v.unk);
    id("tokenizer.ggml.padding_token_id", v.pad);
    w.set("tokenizer.ggml.add_bos_token", v.add_bos);
  }

  void norm(gguf_writer& w, const std::string& name, const infer::frozen_norm& n, bool extra) const {
    if (n.kind() == infer::norm_kind::none) return;  // only in tern-llama (norm.* says so)
    if (n.kind() == infer::norm_kind::rms && extra) return;
    std::vector<float> g = n.kind() == infer::norm_kind::rms_gain ? n.gain() : std::vector<float>(std::size_t(n.features()), 1.0f);
    std::vector<std::uint8_t> bytes(g.size() * 4);
    std::memcpy(bytes.data(), g.data(), bytes.size());
    w.add_tensor(name, {std::uint64_t(n.features())}, gguf_tensor_type::f32, std::move(bytes));
  }

  /// One projection; head_rows > 0: permute its rows for adjacent-pair RoPE (heads of head_rows).
  void linear(gguf_writer& w, const std::string& base, const infer::frozen_linear& l, index head_rows) {
    const std::string name = base + ".weight";
    const index in = l.in_features(), out = l.out_features();
    std::vector<index> rows;
    if (head_rows > 0)
      for (index r = 0; r < out; ++r) rows.push_back(rope_source_row(r, head_rows));
    const std::vector<std::uint64_t> dims = {std::uint64_t(in), std::uint64_t(out)};
    std::visit([&](const auto& m) {
      using W = std::decay_t<decltype(m)>;
      if constexpr (std::is_same_v<W, kernels::packed_ternary> || std::is_same_v<W, kernels::packed_ternary_base3>) {
        const gguf_tensor_type t = o_.ternary ? *o_.ternary
                                   : std::is_same_v<W, kernels::packed_ternary> ? gguf_tensor_type::tq2_0
                                                                                : gguf_tensor_type::tq1_0;
        const bool tq = t == gguf_tensor_type::tq1_0 || t == gguf_tensor_type::tq2_0;
        const quantized<float> q = m.unpack();
        const index group = m.layout().group;
        std::string why;
        if (in % 256 != 0) why = "its rows have " + std::to_string(in) + " weights, not a multiple of the 256 of a TQ block";
        else if (group != in && group % 256 != 0)
          why = "its scale groups of " + std::to_string(group) + " columns are not a multiple of the 256 of a TQ block";
        if (tq && why.empty()) {
          const index blocks = in / 256;
          const std::size_t bb = gguf_block_bytes(t);
          std::vector<std::uint8_t> bytes(std::size_t(out * blocks) * bb);
          std::int8_t codes[256];
          for (index r = 0; r < out; ++r) {
            const index src = rows.empty() ? r : rows[std::size_t(r)];
            for (index b = 0; b < blocks; ++b) {
              for (int e = 0; e < 256; ++e) codes[e] = q.codes(src, b * 256 + e);
              const float s = m.scale(src, (b * 256) / group);
              const std::uint16_t h = gguf_quants::to_f16(s);
              if (!std::isfinite(gguf_quants::from_f16(h)) || (s != 0.0f && gguf_quants::from_f16(h) == 0.0f))
                fail(name + ": the scale " + std::to_string(s) + " of row " + std::to_string(src) + " is outside the range of f16");
              std::uint8_t* dst = bytes.data() + std::size_t(r * blocks + b) * bb;
              if (t == gguf_tensor_type::tq2_0) gguf_quants::encode_tq2_0(codes, h, dst);
              else gguf_quants::encode_tq1_0(codes, h, dst);
            }
          }
          quantized_ = true;
          w.add_tensor(name, dims, t, std::move(bytes));
          return;
        }
        const gguf_tensor_type dense = tq ? (o_.fallback ? *o_.fallback : gguf_tensor_type::f32) : t;
        if (tq && !o_.fallback)
          fail(name + " cannot be " + std::string(gguf_tensor_type_name(t)) + ": " + why +
               " (ask for a fallback type, F32, F16 or BF16, to store it dequantized)");
        matrix<float> wf(out, in);
        for (index i = 0; i < out; ++i)
          for (index j = 0; j < in; ++j) wf(i, j) = float(q.codes(i, j)) * m.scale(i, j / group);
        w.add_tensor(name, dims, dense, encode_dense(wf, dense, rows));
      } else if constexpr (std::is_same_v<W, infer::dense_f32>) {
        w.add_tensor(name, dims, gguf_tensor_type::f32, encode_dense(matrix<float>(m.view()), gguf_tensor_type::f32, rows));
      } else if constexpr (std::is_same_v<W, kernels::packed_bf16>) {
        w.add_tensor(name, dims, gguf_tensor_type::bf16, encode_dense(m.dequantize(), gguf_tensor_type::bf16, rows));
      } else {  // packed_int8: no GGUF type of tern's holds per-row int8
        if (!o_.fallback) fail(name + " is i8, which GGUF cannot hold as is (ask for a fallback type: F32, F16 or BF16)");
        w.add_tensor(name, dims, *o_.fallback, encode_dense(m.dequantize(), *o_.fallback, rows));
      }
    }, l.weight());
    const infer::frozen_norm& n = l.input_norm();
    if (n.kind() == infer::norm_kind::rms_gain) {
      std::vector<std::uint8_t> bytes(n.gain().size() * 4);
      std::memcpy(bytes.data(), n.gain().data(), bytes.size());
      w.add_tensor(base + ".rms_norm.weight", {std::uint64_t(in)}, gguf_tensor_type::f32, std::move(bytes));
    }
  }

  const infer::inference_model& m_;
  const gguf_export_options& o_;
  std::string arch_;
  bool quantized_ = false;
};

/// Imports one file (see the file comment).
class importer {
 public:
  explicit importer(const gguf_file& f) : f_(f) {}

  infer::inference_model run() {
    arch_ = f_.get_string("general.architecture");
    if (arch_ != "llama" && arch_ != "tern-llama")
      fail("general.architecture", "'" + arch_ + "': tern reads the llama and tern-llama architectures");
    const std::string a = arch_ + ".";
    transformer_config c;
    c.dim = bounded(a + "embedding_length", max_dim);
    c.n_layers = bounded(a + "block_count", max_layers);
    c.n_heads = bounded(a + "attention.head_count", max_dim);
    c.n_kv_heads = f_.find(a + "attention.head_count_kv") ? bounded(a + "attention.head_count_kv", max_dim) : c.n_heads;
    c.ffn_hidden = bounded(a + "feed_forward_length", max_ffn);
    c.max_seq = bounded(a + "context_length", max_seq);
    c.norm_eps = f_.get_float(a + "attention.layer_norm_rms_epsilon");
    c.rope_base = f_.find(a + "rope.freq_base") ? f_.get_float(a + "rope.freq_base") : 10000.0;
    if (!(c.norm_eps > 0.0 && c.norm_eps < 1.0)) fail(a + "attention.layer_norm_rms_epsilon", std::to_string(c.norm_eps) + " is outside (0, 1)");
    if (!(float(c.norm_eps) >= std::numeric_limits<float>::min()))  // the norms compute in float
      fail(a + "attention.layer_norm_rms_epsilon", std::to_string(c.norm_eps) + " is below the smallest normal float");
    if (!std::isfinite(c.rope_base) || !(c.rope_base > 1.0) || c.rope_base > 1e12)
      fail(a + "rope.freq_base", std::to_string(c.rope_base) + " is outside (1, 1e12]");
    const gguf_tensor_info& emb = tensor("token_embd.weight", 2);
    if (emb.dims[0] != std::uint64_t(c.dim)) fail("token_embd.weight", "dims[0] " + std::to_string(emb.dims[0]) + ", the embedding length is " + std::to_string(c.dim));
    if (emb.dims[1] > std::uint64_t(max_vocab)) fail("token_embd.weight", "a vocabulary of " + std::to_string(emb.dims[1]) + " tokens is beyond 2^24");
    c.vocab = index(emb.dims[1]);
    if (f_.find(a + "vocab_size") && f_.get_uint(a + "vocab_size") != std::uint64_t(c.vocab))
      fail(a + "vocab_size", std::to_string(f_.get_uint(a + "vocab_size")) + ", token_embd has " + std::to_string(c.vocab) + " rows");
    try {
      c.validate();
    } catch (const std::exception& e) {
      fail("config", e.what());
    }
    const index hd = c.dim / c.n_heads;
    if (f_.find(a + "rope.dimension_count") && f_.get_uint(a + "rope.dimension_count") != std::uint64_t(hd))
      fail(a + "rope.dimension_count", std::to_string(f_.get_uint(a + "rope.dimension_count")) + ": tern rotates whole heads of " + std::to_string(hd));
    for (const char* k : {"attention.key_length", "attention.value_length"})
      if (f_.find(a + k) && f_.get_uint(a + k) != std::uint64_t(hd))
        fail(a + k, std::to_string(f_.get_uint(a + k)) + ", tern's heads are embedding_length / head_count = " + std::to_string(hd));
    if (f_.find(a + "expert_count") && f_.get_uint(a + "expert_count") != 0) fail(a + "expert_count", "mixture-of-experts models are not supported");
    if (const gguf_value* s = f_.find(a + "rope.scaling.type"); s && !(s->is_string() && s->str() == "none"))
      fail(a + "rope.scaling.type", "RoPE scaling is not supported");

    infer::model_desc d;
    if (arch_ == "tern-llama") {
      d.block_norm = norm_key(a + "norm.block");
      d.final_norm = norm_key(a + "norm.final");
      d.attn_in.norm = norm_key(a + "norm.attn_in");
      d.attn_out.norm = norm_key(a + "norm.attn_out");
      d.mlp_in.norm = norm_key(a + "norm.mlp_in");
      d.mlp_out.norm = norm_key(a + "norm.mlp_out");
      d.head.norm = norm_key(a + "norm.head");
    }
    const float eps = float(c.norm_eps);
    const index kvd = c.n_kv_heads * hd;
    // granularity per role, over every layer
    const std::vector<std::string> attn_in = names({"attn_q", "attn_k", "attn_v"}, c.n_layers);
    const std::vector<std::string> attn_out = names({"attn_output"}, c.n_layers);
    const std::vector<std::string> mlp_in = names({"ffn_gate", "ffn_up"}, c.n_layers);
    const std::vector<std::string> mlp_out = names({"ffn_down"}, c.n_layers);
    const bool tied = f_.find_tensor("output.weight") == nullptr;
    role_ attn_in_r = role(attn_in), attn_out_r = role(attn_out), mlp_in_r = role(mlp_in), mlp_out_r = role(mlp_out);
    role_ head_r = tied ? role_{} : role({"output.weight"});

    infer::dense_f32 embed(dense(emb, {}));
    std::vector<infer::frozen_block> layers(std::size_t(c.n_layers));
    for (index l = 0; l < c.n_layers; ++l) {
      auto& b = layers[std::size_t(l)];
      const std::string p = "blk." + std::to_string(l) + ".";
      b.attn_norm = block_norm(p + "attn_norm.weight", d.block_norm, c.dim, eps);
      b.q = linear(p + "attn_q", c.dim, c.dim, attn_in_r, d.attn_in.norm, eps, hd);
      b.k = linear(p + "attn_k", c.dim, kvd, attn_in_r, d.attn_in.norm, eps, hd);
      b.v = linear(p + "attn_v", c.dim, kvd, attn_in_r, d.attn_in.norm, eps, 0);
      b.o = linear(p + "attn_output", c.dim, c.dim, attn_out_r, d.attn_out.norm, eps, 0);
      b.mlp_norm = block_norm(p + "ffn_norm.weight", d.block_norm, c.dim, eps);
      b.gate = linear(p + "ffn_gate", c.dim, c.ffn_hidden, mlp_in_r, d.mlp_in.norm, eps, 0);
      b.up = linear(p + "ffn_up", c.dim, c.ffn_hidden, mlp_in_r, d.mlp_in.norm, eps, 0);
      b.down = linear(p + "ffn_down", c.ffn_hidden, c.dim, mlp_out_r, d.mlp_out.norm, eps, 0);
    }
    infer::frozen_norm fn = block_norm("output_norm.weight", d.final_norm, c.dim, eps);
    infer::frozen_linear head = tied ? infer::frozen_linear(infer::dense_f32(matrix<float>(embed.view())), head_norm(d.head.norm, c.dim, eps))
                                     : linear("output", c.dim, c.vocab, head_r, d.head.norm, eps, 0);
    for (const gguf_tensor_info& t : f_.tensors())
      if (!used_.count(t.name)) fail("tensor '" + t.name + "'", "not part of a " + arch_ + " model as tern reads it");
    try {
      return infer::inference_model(c, "gguf:" + arch_, std::move(embed), std::move(layers), std::move(fn), std::move(head));
    } catch (const std::exception& e) {
      fail("model", e.what());
    }
  }

 private:
  struct role_ {
    bool ternary = false;
    infer::scale_granularity g = infer::scale_granularity::tensor;
    std::optional<gguf_tensor_type> type;
  };

  [[noreturn]] void fail(const std::string& field, const std::string& why) const { f_.fail(field, why); }

  index bounded(const std::string& key, index bound) const {
    const std::uint64_t v = f_.get_uint(key);
    if (v == 0 || v > std::uint64_t(bound)) fail(key, std::to_string(v) + " is outside [1, " + std::to_string(bound) + "]");
    return index(v);
  }

  infer::norm_kind norm_key(const std::string& key) const {
    const std::string& s = f_.get_string(key);
    if (s == "none") return infer::norm_kind::none;
    if (s == "rms") return infer::norm_kind::rms;
    if (s == "rms_gain") return infer::norm_kind::rms_gain;
    fail(key, "'" + s + "', expected none, rms or rms_gain");
  }

  static std::vector<std::string> names(std::initializer_list<const char*> kinds, index layers) {
    std::vector<std::string> out;
    for (index l = 0; l < layers; ++l)
      for (const char* k : kinds) out.push_back("blk." + std::to_string(l) + "." + k + ".weight");
    return out;
  }

  const gguf_tensor_info& tensor(const std::string& name, std::size_t n_dims) {
    const gguf_tensor_info* t = f_.find_tensor(name);
    if (!t) fail("tensor '" + name + "'", "missing");
    if (t->dims.size() != n_dims) fail("tensor '" + name + "'", std::to_string(t->dims.size()) + " dims, expected " + std::to_string(n_dims));
    used_.insert(name);
    return *t;
  }

  /// The d of block b of row r of a TQ tensor.
  float block_d(const gguf_tensor_info& t, const std::uint8_t* p, std::uint64_t r, std::uint64_t b) const {
    const std::size_t bb = gguf_block_bytes(t.type);
    const std::uint8_t* blk = p + (r * (t.dims[0] / 256) + b) * bb;
    const std::uint16_t h = std::uint16_t(blk[bb - 2] | (blk[bb - 1] << 8));
    return gguf_quants::from_f16(h);
  }

  /// One type for every tensor of a role and, for TQ, the coarsest scale granularity.
  role_ role(const std::vector<std::string>& ts) const {
    role_ r;
    bool first = true;
    for (const std::string& n : ts) {
      const gguf_tensor_info* t = f_.find_tensor(n);
      if (!t) fail("tensor '" + n + "'", "missing");
      const bool tq = t->type == gguf_tensor_type::tq1_0 || t->type == gguf_tensor_type::tq2_0;
      if (first) r.type = t->type, r.ternary = tq;
      else if (*r.type != t->type)
        fail("tensor '" + n + "'", std::string(gguf_tensor_type_name(t->type)) + ", but " + ts.front() + " is " +
                                       std::string(gguf_tensor_type_name(*r.type)) + ": tern needs one format per role in every layer");
      first = false;
      if (!tq || t->dims.size() != 2) continue;
      const auto p = f_.tensor_data(*t);
      const std::uint64_t blocks = t->dims[0] / 256, rows = t->dims[1];
      const float d00 = block_d(*t, p.get(), 0, 0);
      for (std::uint64_t i = 0; i < rows && r.g != infer::scale_granularity::group; ++i) {
        const float di0 = block_d(*t, p.get(), i, 0);
        if (di0 != d00 && r.g == infer::scale_granularity::tensor) r.g = infer::scale_granularity::row;
        for (std::uint64_t b = 1; b < blocks; ++b)
          if (block_d(*t, p.get(), i, b) != di0) {
            r.g = infer::scale_granularity::group;
            break;
          }
      }
    }
    return r;
  }

  /// A dense tensor as floats (rows x cols = dims[1] x dims[0]); every value finite.
  matrix<float> dense(const gguf_tensor_info& t, const std::vector<index>& perm) const {
    const index cols = index(t.dims[0]), rows = t.dims.size() > 1 ? index(t.dims[1]) : 1;
    matrix<float> m(rows, cols);
    const auto p = f_.tensor_data(t);
    const std::uint8_t* b = p.get();
    if (t.type == gguf_tensor_type::tq1_0 || t.type == gguf_tensor_type::tq2_0) {
      std::int8_t w[256];
      for (index r = 0; r < rows; ++r)
        for (index k = 0; k < cols / 256; ++k) {
          const std::uint16_t h = decode_block(t, b, r, k, w);
          for (int e = 0; e < 256; ++e) m(r, k * 256 + e) = float(w[e]) * gguf_quants::from_f16(h);
        }
    } else {
      for (index r = 0; r < rows; ++r)
        for (index j = 0; j < cols; ++j) {
          const std::size_t i = std::size_t(r * cols + j);
          float v;
          if (t.type == gguf_tensor_type::f32) std::memcpy(&v, b + 4 * i, 4);
          else {
            std::uint16_t h;
            std::memcpy(&h, b + 2 * i, 2);
            v = t.type == gguf_tensor_type::f16 ? gguf_quants::from_f16(h) : gguf_quants::from_bf16(h);
          }
          if (!std::isfinite(v)) fail("tensor '" + t.name + "'", "value (" + std::to_string(r) + ", " + std::to_string(j) + ") is not finite");
          m(r, j) = v;
        }
    }
    if (perm.empty()) return m;
    matrix<float> out(rows, cols);
    for (index r = 0; r < rows; ++r) out.row(perm[std::size_t(r)]) = m.row(r);
    return out;
  }

  std::uint16_t decode_block(const gguf_tensor_info& t, const std::uint8_t* p, index r, index k, std::int8_t* w) const {
    const std::size_t bb = gguf_block_bytes(t.type);
    const std::uint8_t* blk = p + std::size_t(r * index(t.dims[0] / 256) + k) * bb;
    int bad = 0;
    const int h = t.type == gguf_tensor_type::tq2_0 ? gguf_quants::decode_tq2_0(blk, w, bad) : gguf_quants::decode_tq1_0(blk, w, bad);
    if (h < 0)
      fail("tensor '" + t.name + "'", "row " + std::to_string(r) + ", block " + std::to_string(k) +
                                          (t.type == gguf_tensor_type::tq2_0 ? ": weight " + std::to_string(bad) + " holds the 2-bit code 3, which is not ternary"
                                                                              : ": byte " + std::to_string(bad) + " is not a TQ1_0 encoding of trits"));
    const float d = gguf_quants::from_f16(std::uint16_t(h));
    if (!std::isfinite(d)) fail("tensor '" + t.name + "'", "row " + std::to_string(r) + ", block " + std::to_string(k) + ": the scale d is not finite");
    return std::uint16_t(h);
  }

  infer::frozen_norm block_norm(const std::string& name, infer::norm_kind k, index features, float eps) {
    if (k != infer::norm_kind::rms_gain) return infer::frozen_norm(k, features, {}, eps);
    const gguf_tensor_info& t = tensor(name, 1);
    if (t.dims[0] != std::uint64_t(features)) fail("tensor '" + name + "'", std::to_string(t.dims[0]) + " gains, expected " + std::to_string(features));
    const matrix<float> g = dense(t, {});
    return infer::frozen_norm(k, features, std::vector<float>(g.data(), g.data() + g.size()), eps);
  }
  infer::frozen_norm head_norm(infer::norm_kind k, index features, float eps) {
    if (k == infer::norm_kind::rms_gain) return block_norm("output.rms_norm.weight", k, features, eps);
    return infer::frozen_norm(k, features, {}, eps);
  }

  infer::frozen_linear linear(const std::string& base, index in, index out, const role_& r, infer::norm_kind nk, float eps,
                              index head_rows) {
    const std::string name = base + ".weight";
    const gguf_tensor_info& t = tensor(name, 2);
    if (t.dims[0] != std::uint64_t(in) || t.dims[1] != std::uint64_t(out))
      fail("tensor '" + name + "'", "dims [" + std::to_string(t.dims[0]) + ", " + std::to_string(t.dims[1]) + "], expected [" +
                                        std::to_string(in) + ", " + std::to_string(out) + "]");
    std::vector<index> perm;  // tern row of GGUF row r
    if (head_rows > 0)
      for (index row = 0; row < out; ++row) perm.push_back(rope_source_row(row, head_rows));
    infer::frozen_norm norm(infer::norm_kind::none, in, {}, eps);
    if (nk == infer::norm_kind::rms_gain) norm = block_norm(base + ".rms_norm.weight", nk, in, eps);
    else norm = infer::frozen_norm(nk, in, {}, eps);
    infer::frozen_linear::weights w;
    try {
      if (r.ternary) {
        const auto p = f_.tensor_data(t);
        const index blocks = in / 256;
        matrix<std::int8_t> codes(out, in);
        const index groups = r.g == infer::scale_granularity::group ? blocks : 1;
        matrix<float> scales(r.g == infer::scale_granularity::tensor ? 1 : out, groups);
        std::int8_t wb[256];
        for (index row = 0; row < out; ++row) {
          const index dst = perm.empty() ? row : perm[std::size_t(row)];
          for (index k = 0; k < blocks; ++k) {
            const float d = gguf_quants::from_f16(decode_block(t, p.get(), row, k, wb));
            for (int e = 0; e < 256; ++e) codes(dst, k * 256 + e) = wb[e];
            if (r.g == infer::scale_granularity::group) scales(dst, k) = d;
            else if (k == 0 && (r.g == infer::scale_granularity::row || row == 0)) scales(r.g == infer::scale_granularity::row ? dst : 0, 0) = d;
          }
        }
        const index group = r.g == infer::scale_granularity::group ? 256 : in;
        if (t.type == gguf_tensor_type::tq2_0) w = kernels::packed_ternary(codes, scales, group);
        else w = kernels::packed_ternary_base3(codes, scales, group);
      } else if (t.type == gguf_tensor_type::bf16) {
        w = kernels::packed_bf16(dense(t, perm));
      } else {
        w = infer::dense_f32(dense(t, perm));
      }
    } catch (const gguf_error&) {
      throw;
    } catch (const std::exception& e) {
      fail("tensor '" + name + "'", e.what());
    }
    return infer::frozen_linear(std::move(w), std::move(norm));
  }

  const gguf_file& f_;
  std::string arch_;
  std::set<std::string> used_;
};

}  // namespace detail::gguf_model

/// The architecture save_gguf writes for this model: llama, or tern-llama (per-projection norms).
inline std::string gguf_architecture(const infer::inference_model& m) {
  const infer::model_desc& d = m.desc();
  for (const infer::projection_desc* p : {&d.attn_in, &d.attn_out, &d.mlp_in, &d.mlp_out, &d.head})
    if (p->norm != infer::norm_kind::none) return "tern-llama";
  return d.block_norm == infer::norm_kind::none || d.final_norm == infer::norm_kind::none ? "tern-llama" : "llama";
}

/// The GGUF file of `m` as a writer (its metadata and tensors set; write() or bytes() it).
inline gguf_writer gguf_export(const infer::inference_model& m, const gguf_export_options& o = {}) {
  return detail::gguf_model::exporter(m, o).run();
}

/// Writes `m` to `path` as GGUF (atomically); throws gguf_error.
inline void save_gguf(const std::string& path, const infer::inference_model& m, const gguf_export_options& o = {}) {
  gguf_export(m, o).write(path);
}

/// The vocabulary a GGUF file holds (tokenizer.ggml.*), or nothing when it has no token list;
/// gguf_error when a key has the wrong type.
inline std::optional<gguf_vocab> gguf_read_vocab(const gguf_file& f) {
  const gguf_value* toks = f.find("tokenizer.ggml.tokens");
  if (!toks) return std::nullopt;
  const auto strings = [&](const char* key, std::vector<std::string>& out) {
    const gguf_value* v = f.find(key);
    if (!v) return;
    if (!v->is_array() || v->element_type() != gguf_type::string) f.fail(key, "not an array of strings");
    for (const gguf_value& x : v->items()) out.push_back(x.str());
  };
  gguf_vocab v;
  v.model = f.find("tokenizer.ggml.model") ? f.get_string("tokenizer.ggml.model") : "gpt2";
  v.pre = f.find("tokenizer.ggml.pre") ? f.get_string("tokenizer.ggml.pre") : "default";
  strings("tokenizer.ggml.tokens", v.tokens);
  strings("tokenizer.ggml.merges", v.merges);
  if (const gguf_value* s = f.find("tokenizer.ggml.scores")) {
    if (!s->is_array() || s->element_type() != gguf_type::f32) f.fail("tokenizer.ggml.scores", "not an array of f32");
    for (const gguf_value& x : s->items()) v.scores.push_back(std::get<float>(x.data()));
  }
  if (const gguf_value* t = f.find("tokenizer.ggml.token_type")) {
    if (!t->is_array() || t->element_type() != gguf_type::i32) f.fail("tokenizer.ggml.token_type", "not an array of i32");
    for (const gguf_value& x : t->items()) v.token_types.push_back(std::get<std::int32_t>(x.data()));
  }
  if ((!v.scores.empty() && v.scores.size() != v.tokens.size()) || (!v.token_types.empty() && v.token_types.size() != v.tokens.size()))
    f.fail("tokenizer.ggml", "the scores or token types do not match the " + std::to_string(v.tokens.size()) + " tokens");
  const auto id = [&](const char* key, std::int64_t& out) {
    if (f.find(key)) out = std::int64_t(f.get_uint(key));
  };
  id("tokenizer.ggml.bos_token_id", v.bos);
  id("tokenizer.ggml.eos_token_id", v.eos);
  id("tokenizer.ggml.unknown_token_id", v.unk);
  id("tokenizer.ggml.padding_token_id", v.pad);
  if (const gguf_value* b = f.find("tokenizer.ggml.add_bos_token")) {
    if (b->type() != gguf_type::boolean) f.fail("tokenizer.ggml.add_bos_token", "not a bool");
    v.add_bos = std::get<bool>(b->data());
  }
  return v;
}

/// The model of a validated GGUF file; throws gguf_error naming the file and the field.
inline infer::inference_model load_gguf(const gguf_file& f) { return detail::gguf_model::importer(f).run(); }

/// Reads, validates and imports a GGUF file (memory-mapped while importing).
inline infer::inference_model load_gguf(const std::string& path) { return load_gguf(gguf_file::open(path)); }

}  // namespace tern
