// Models out to GGUF and back: llama and tern-llama exports read back (codes exact, scales the
// f16 rounding of tern's), a plain llama forward written here over the exported tensors (adjacent
// pair RoPE, so the q/k row permutation is checked) against tern's forward, a llama TQ2_0 file
// whose blocks are built here from the published layout (not by tern's encoder), and the errors:
// rows or groups TQ cannot hold, the fallback types, foreign architectures and tensors.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "gguf_test_models.hpp"
#include "tern/infer/session.hpp"
#include "tern/io/gguf_model.hpp"
#include "tern/kernels/executor.hpp"

namespace tern {
namespace ti = tern::infer;
namespace tk = tern::kernels;
namespace gt = tern::gguf_test;

namespace {

matrix<float> logits_of(const ti::inference_model& m, const std::vector<token>& toks) {
  ti::session s(m, tk::path::generic);
  tk::sequential_executor ex;
  return s.forward(toks, /*all_logits=*/true, ex);
}

gguf_file reread(const gguf_writer& w, const std::string& name = "export.gguf") {
  const auto b = w.bytes();
  return gguf_file::from_bytes(b.data(), b.size(), name);
}

/// Codes and scales of a ternary projection (scales expanded per column).
matrix<float> dequantized(const ti::frozen_linear& l) {
  return std::visit([](const auto& w) -> matrix<float> {
    using W = std::decay_t<decltype(w)>;
    if constexpr (std::is_same_v<W, tk::packed_ternary> || std::is_same_v<W, tk::packed_ternary_base3>) {
      const quantized<float> q = w.unpack();
      matrix<float> out(q.rows(), q.cols());
      for (index i = 0; i < q.rows(); ++i)
        for (index j = 0; j < q.cols(); ++j) out(i, j) = float(q.codes(i, j)) * w.scale(i, j / w.layout().group);
      return out;
    } else if constexpr (std::is_same_v<W, ti::dense_f32>) {
      return matrix<float>(w.view());
    } else {
      return w.dequantize();
    }
  }, l.weight());
}
matrix<std::int8_t> codes_of(const ti::frozen_linear& l) {
  return std::visit([](const auto& w) -> matrix<std::int8_t> {
    using W = std::decay_t<decltype(w)>;
    if constexpr (std::is_same_v<W, tk::packed_ternary> || std::is_same_v<W, tk::packed_ternary_base3>) return w.unpack().codes;
    else return {};
  }, l.weight());
}

float f16_round(float x) { return gguf_quants::from_f16(gguf_quants::to_f16(x)); }

/// Every projection of b has the codes of a and scales that are a's rounded to f16.
void check_same_weights(const ti::inference_model& a, const ti::inference_model& b) {
  REQUIRE(a.config().n_layers == b.config().n_layers);
  const auto one = [&](const ti::frozen_linear& x, const ti::frozen_linear& y, const std::string& what) {
    INFO(what);
    REQUIRE(x.format() == y.format());
    if (is_ternary(x.format())) REQUIRE(codes_of(x) == codes_of(y));
    const matrix<float> dx = dequantized(x), dy = dequantized(y);
    for (index i = 0; i < dx.rows(); ++i)
      for (index j = 0; j < dx.cols(); ++j)
        if ((is_ternary(x.format()) ? (dx(i, j) == 0 ? 0.0f : std::copysign(f16_round(std::abs(dx(i, j))), dx(i, j))) : dx(i, j)) != dy(i, j))
          FAIL(what << " (" << i << ", " << j << "): " << dx(i, j) << " became " << dy(i, j));
    CHECK(x.input_norm().kind() == y.input_norm().kind());
    CHECK(x.input_norm().gain() == y.input_norm().gain());
  };
  for (index l = 0; l < a.config().n_layers; ++l) {
    const ti::frozen_block &x = a.layer(l), &y = b.layer(l);
    const std::string p = "layer " + std::to_string(l) + " ";
    one(x.q, y.q, p + "q");
    one(x.k, y.k, p + "k");
    one(x.v, y.v, p + "v");
    one(x.o, y.o, p + "o");
    one(x.gate, y.gate, p + "gate");
    one(x.up, y.up, p + "up");
    one(x.down, y.down, p + "down");
    CHECK(x.attn_norm.gain() == y.attn_norm.gain());
    CHECK(x.mlp_norm.gain() == y.mlp_norm.gain());
  }
  one(a.head(), b.head(), "head");
  CHECK(matrix<float>(a.embedding().view()) == matrix<float>(b.embedding().view()));
}

// ---- a plain llama forward over the GGUF tensors (F32 only), llama.cpp's conventions ----
struct ref_llama {
  const gguf_file& f;
  index dim, layers, heads, kv_heads, ffn, vocab;
  float eps, base;

  matrix<float> t(const std::string& name) const {
    const gguf_tensor_info* ti = f.find_tensor(name);
    REQUIRE(ti);
    REQUIRE(ti->type == gguf_tensor_type::f32);
    const index cols = index(ti->dims[0]), rows = ti->dims.size() > 1 ? index(ti->dims[1]) : 1;
    matrix<float> m(rows, cols);
    std::memcpy(m.data(), f.tensor_data(*ti).get(), std::size_t(rows * cols) * 4);  // row-major
    return m;
  }
  static matrix<float> rms(const matrix<float>& x, const matrix<float>& g, float eps) {
    matrix<float> y = x;
    for (index i = 0; i < x.rows(); ++i) {
      double ss = 0;
      for (index j = 0; j < x.cols(); ++j) ss += double(x(i, j)) * x(i, j);
      const float inv = float(1.0 / std::sqrt(ss / double(x.cols()) + eps));
      for (index j = 0; j < x.cols(); ++j) y(i, j) = x(i, j) * inv * g(0, j);
    }
    return y;
  }
  void rope(matrix<float>& x, index nh) const {
    const index d = dim / heads;
    for (index p = 0; p < x.rows(); ++p)
      for (index h = 0; h < nh; ++h)
        for (index j = 0; j < d / 2; ++j) {
          const double th = double(p) * std::pow(double(base), -2.0 * double(j) / double(d));
          float& a = x(p, h * d + 2 * j);
          float& b = x(p, h * d + 2 * j + 1);
          const float a0 = a, b0 = b;
          a = float(a0 * std::cos(th) - b0 * std::sin(th));
          b = float(a0 * std::sin(th) + b0 * std::cos(th));
        }
  }
  matrix<float> forward(const std::vector<token>& toks) const {
    const index n = index(toks.size()), d = dim / heads;
    const matrix<float> emb = t("token_embd.weight");
    matrix<float> x(n, dim);
    for (index i = 0; i < n; ++i) x.row(i) = emb.row(toks[std::size_t(i)]);
    for (index l = 0; l < layers; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      matrix<float> h = rms(x, t(p + "attn_norm.weight"), eps);
      matrix<float> q = h * t(p + "attn_q.weight").transpose(), k = h * t(p + "attn_k.weight").transpose(),
                    v = h * t(p + "attn_v.weight").transpose();
      rope(q, heads);
      rope(k, kv_heads);
      matrix<float> ctx(n, dim);
      for (index a = 0; a < heads; ++a) {
        const index g = a / (heads / kv_heads);
        for (index i = 0; i < n; ++i) {
          std::vector<double> s(std::size_t(i + 1));
          double mx = -1e300, sum = 0;
          for (index j = 0; j <= i; ++j) {
            double dot = 0;
            for (index c = 0; c < d; ++c) dot += double(q(i, a * d + c)) * k(j, g * d + c);
            s[std::size_t(j)] = dot / std::sqrt(double(d));
            mx = std::max(mx, s[std::size_t(j)]);
          }
          for (auto& e : s) sum += (e = std::exp(e - mx));
          for (index c = 0; c < d; ++c) {
            double acc = 0;
            for (index j = 0; j <= i; ++j) acc += s[std::size_t(j)] / sum * v(j, g * d + c);
            ctx(i, a * d + c) = float(acc);
          }
        }
      }
      x += ctx * t(p + "attn_output.weight").transpose();
      h = rms(x, t(p + "ffn_norm.weight"), eps);
      matrix<float> gate = h * t(p + "ffn_gate.weight").transpose(), up = h * t(p + "ffn_up.weight").transpose();
      gate.array() = gate.array() / (1.0f + (-gate.array()).exp()) * up.array();
      x += gate * t(p + "ffn_down.weight").transpose();
    }
    return rms(x, t("output_norm.weight"), eps) * t("output.weight").transpose();
  }
};

/// A TQ2_0 block written bit by bit from the layout: q = w + 1 at bits 2n of byte 32 (e / 128) + e % 32,
/// n = (e % 128) / 32 (independent of tern's encoder).
void hand_tq2(const std::int8_t* w, float d, std::uint8_t* out) {
  std::memset(out, 0, 66);
  for (int e = 0; e < 256; ++e) out[32 * (e / 128) + e % 32] |= std::uint8_t((w[e] + 1) << (2 * ((e % 128) / 32)));
  const std::uint16_t h = gguf_quants::to_f16(d);
  out[64] = std::uint8_t(h & 0xff);
  out[65] = std::uint8_t(h >> 8);
}

}  // namespace

TEST_CASE("GGUF export: a ternary model without extra norms is a llama TQ2_0 file that reads back", "[gguf]") {
  const ti::inference_model m = gt::frozen<qat_policy>();
  const gguf_writer w = gguf_export(m);
  const gguf_file f = reread(w);
  CHECK(f.get_string("general.architecture") == "llama");
  CHECK(f.get_uint("llama.block_count") == 2);
  CHECK(f.get_uint("llama.embedding_length") == 256);
  CHECK(f.get_uint("llama.feed_forward_length") == 512);
  CHECK(f.get_uint("llama.attention.head_count") == 4);
  CHECK(f.get_uint("llama.attention.head_count_kv") == 2);
  CHECK(f.get_uint("llama.rope.dimension_count") == 64);
  CHECK(f.get_uint("llama.context_length") == 32);
  CHECK(f.get_uint("llama.vocab_size") == 256);
  CHECK(f.get_float("llama.rope.freq_base") == 10000.0);
  CHECK(f.get_float("llama.attention.layer_norm_rms_epsilon") == double(1e-6f));
  CHECK(f.get_uint("general.quantization_version") == 2);
  CHECK(f.get_string("tokenizer.ggml.model") == "gpt2");
  const auto& toks = f.find("tokenizer.ggml.tokens")->items();
  REQUIRE(toks.size() == 256);
  CHECK(toks['a'].str() == "a");
  CHECK(toks[' '].str() == "\xc4\xa0");   // GPT-2's symbol for a space, U+0120
  CHECK(toks['\n'].str() == "\xc4\x8a");  // U+010A
  CHECK(toks[0].str() == "\xc4\x80");     // U+0100
  CHECK(toks[255].str() == "\xc3\xbf");
  CHECK(f.find("tokenizer.ggml.merges")->items().empty());
  CHECK(f.find_tensor("blk.1.attn_q.weight")->type == gguf_tensor_type::tq2_0);
  CHECK(f.find_tensor("blk.1.ffn_down.weight")->dims == std::vector<std::uint64_t>{512, 256});
  CHECK(f.find_tensor("token_embd.weight")->type == gguf_tensor_type::f32);
  CHECK(f.find_tensor("output.weight")->type == gguf_tensor_type::f32);
  CHECK(f.tensors().size() == 1 + 2 * 9 + 2);

  const ti::inference_model back = load_gguf(f);
  CHECK(back.config().dim == m.config().dim);
  CHECK(back.desc() == m.desc());
  check_same_weights(m, back);
  // export -> import -> export is byte for byte the same file
  CHECK(gguf_export(back).bytes() == w.bytes());
  // the forward of the read-back model is the original's up to the f16 scales
  const std::vector<token> toks_in = {1, 100, 7, 255, 3};
  const matrix<float> a = logits_of(m, toks_in), b = logits_of(back, toks_in);
  CHECK((a - b).cwiseAbs().maxCoeff() < 2e-2f * a.cwiseAbs().maxCoeff());
}

TEST_CASE("GGUF export: per-row and per-group scales, TQ1_0, and files on disk", "[gguf]") {
  const ti::inference_model rows = gt::frozen<gt::per_row_policy>();
  const ti::inference_model groups = gt::frozen<gt::per_group_policy>();
  const ti::inference_model tq1 = gt::frozen<qat_policy>(gt::config(), {.ternary = ti::weight_format::tq1});
  for (const ti::inference_model* m : {&rows, &groups, &tq1}) {
    const ti::inference_model back = load_gguf(reread(gguf_export(*m)));
    CHECK(back.desc() == m->desc());
    check_same_weights(*m, back);
  }
  CHECK(groups.desc().mlp_out.granularity == ti::scale_granularity::group);
  CHECK(reread(gguf_export(tq1)).find_tensor("blk.0.attn_k.weight")->type == gguf_tensor_type::tq1_0);
  // tq2 written as TQ1_0 on request, and back as tq1
  const ti::inference_model q2 = gt::frozen<qat_policy>();
  gguf_export_options o;
  o.ternary = gguf_tensor_type::tq1_0;
  const ti::inference_model as_tq1 = load_gguf(reread(gguf_export(q2, o)));
  CHECK(as_tq1.desc().attn_in.format == ti::weight_format::tq1);
  CHECK(codes_of(as_tq1.layer(1).up) == codes_of(q2.layer(1).up));

  const std::string path = (std::filesystem::temp_directory_path() / ("tern_gguf_" + std::to_string(::getpid()) + ".gguf")).string();
  save_gguf(path, rows);
  const ti::inference_model disk = load_gguf(path);
  check_same_weights(rows, disk);
  std::filesystem::remove(path);
}

TEST_CASE("GGUF vocabulary: written and read back as given", "[gguf]") {
  const ti::inference_model m = gt::frozen<qat_policy>();
  CHECK(gguf_read_vocab(reread(gguf_export(m))) == gguf_byte_vocab(256));
  gguf_vocab v;
  v.model = "llama";
  v.pre = "default";
  for (int i = 0; i < 256; ++i) {
    v.tokens.push_back("piece" + std::to_string(i));
    v.scores.push_back(-float(i));
    v.token_types.push_back(i < 3 ? 3 : 1);
  }
  v.bos = 1;
  v.eos = 2;
  v.unk = 0;
  v.add_bos = true;
  gguf_export_options o;
  o.vocab = v;
  const gguf_file f = reread(gguf_export(m, o));
  CHECK(f.find("tokenizer.ggml.merges") == nullptr);  // llama vocabularies have none
  CHECK(gguf_read_vocab(f) == v);
}

TEST_CASE("GGUF export: F32 weights match a plain llama forward over the file (adjacent-pair RoPE)", "[gguf]") {
  const ti::inference_model m = gt::frozen<fp_policy>();
  const gguf_file f = reread(gguf_export(m));
  CHECK(f.find("general.quantization_version") == nullptr);
  CHECK(f.find_tensor("blk.0.attn_q.weight")->type == gguf_tensor_type::f32);
  const ref_llama ref{f, 256, 2, 4, 2, 512, 256, 1e-6f, 10000.0f};
  const std::vector<token> toks = {5, 17, 200, 33, 91, 12, 250};
  const matrix<float> want = ref.forward(toks), got = logits_of(m, toks);
  const float err = (want - got).cwiseAbs().maxCoeff();
  INFO("max |logit difference| = " << err << ", max |logit| = " << want.cwiseAbs().maxCoeff());
  CHECK(err < 1e-4f);
  // and without the permutation the same forward is far off (the check has teeth)
  const ti::inference_model back = load_gguf(f);
  check_same_weights(m, back);
  CHECK((logits_of(back, toks) - got).cwiseAbs().maxCoeff() == 0.0f);
}

TEST_CASE("GGUF export: extra-norm models are tern-llama with per-projection norm tensors", "[gguf]") {
  const ti::inference_model m = gt::frozen<extra_norm_policy>();
  const gguf_file f = reread(gguf_export(m));
  CHECK(gguf_architecture(m) == "tern-llama");
  CHECK(f.get_string("general.architecture") == "tern-llama");
  CHECK(f.get_string("tern-llama.norm.attn_in") == "rms_gain");
  CHECK(f.get_string("tern-llama.norm.head") == "none");
  CHECK(f.find_tensor("blk.0.attn_q.rms_norm.weight") != nullptr);
  CHECK(f.find_tensor("blk.1.ffn_down.rms_norm.weight")->dims == std::vector<std::uint64_t>{512});
  CHECK(f.find_tensor("output.rms_norm.weight") == nullptr);
  const ti::inference_model back = load_gguf(f);
  CHECK(back.desc() == m.desc());
  check_same_weights(m, back);

  const ti::inference_model mixed = gt::frozen<gt::mixed_norm_policy>();
  const gguf_file g = reread(gguf_export(mixed));
  CHECK(g.get_string("tern-llama.norm.attn_in") == "rms");
  CHECK(g.get_string("tern-llama.norm.attn_out") == "none");
  CHECK(g.get_string("tern-llama.norm.mlp_in") == "rms_gain");
  CHECK(g.find_tensor("blk.0.attn_q.rms_norm.weight") == nullptr);
  CHECK(g.find_tensor("blk.0.ffn_up.rms_norm.weight") != nullptr);
  const ti::inference_model mb = load_gguf(g);
  CHECK(mb.desc() == mixed.desc());
  check_same_weights(mixed, mb);
}

TEST_CASE("GGUF export: what TQ cannot hold is an error, or the fallback type asked for", "[gguf]") {
  const ti::inference_model narrow = gt::frozen<qat_policy>(gt::config(128, 384));
  try {
    gguf_export(narrow);
    FAIL("a row of 128 weights was written as TQ2_0");
  } catch (const gguf_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("blk.0.attn_q.weight") && Catch::Contains("not a multiple of the 256"));
    CHECK_THAT(e.what(), Catch::Contains("fallback"));
  }
  for (gguf_tensor_type t : {gguf_tensor_type::f32, gguf_tensor_type::f16, gguf_tensor_type::bf16}) {
    gguf_export_options o;
    o.fallback = t;
    const gguf_file f = reread(gguf_export(narrow, o));
    CHECK(f.find_tensor("blk.0.attn_v.weight")->type == t);
    const ti::inference_model back = load_gguf(f);
    CHECK(back.desc().attn_in.format == (t == gguf_tensor_type::bf16 ? ti::weight_format::bf16 : ti::weight_format::f32));
    // the dequantized weights, exactly where the type holds them
    const matrix<float> a = dequantized(narrow.layer(0).gate), b = dequantized(back.layer(0).gate);
    if (t == gguf_tensor_type::f32) CHECK(a == b);
    else CHECK((a - b).cwiseAbs().maxCoeff() <= a.cwiseAbs().maxCoeff() / 256);
  }
  const ti::inference_model g128 = gt::frozen<gt::group128_policy>();
  CHECK_THROWS_WITH(gguf_export(g128), Catch::Contains("groups of 128") && Catch::Contains("fallback"));
  const ti::inference_model i8 = gt::frozen<qat_policy>(gt::config(), {.head = ti::weight_format::i8});
  CHECK_THROWS_WITH(gguf_export(i8), Catch::Contains("output.weight is i8"));
  gguf_export_options o;
  o.fallback = gguf_tensor_type::f32;
  CHECK(reread(gguf_export(i8, o)).find_tensor("output.weight")->type == gguf_tensor_type::f32);
  o.fallback = gguf_tensor_type::tq2_0;
  CHECK_THROWS_AS(gguf_export(i8, o), gguf_error);
  gguf_export_options v;
  v.vocab = gguf_byte_vocab(10);
  CHECK_THROWS_WITH(gguf_export(narrow, v), Catch::Contains("10 tokens"));
}

TEST_CASE("GGUF import: a llama TQ2_0 file built here from the published block layout", "[gguf]") {
  // d = 64 (one head), 4 heads, 2 kv heads, vocab 8, 1 layer, dim 256, ffn 256, tied head
  const index dim = 256, ffn = 256, vocab = 8, hd = 64;
  std::mt19937 rng(5);
  gguf_writer w;
  w.set("general.architecture", "llama");
  w.set("llama.context_length", std::uint32_t(16));
  w.set("llama.embedding_length", std::uint32_t(dim));
  w.set("llama.block_count", std::uint32_t(1));
  w.set("llama.feed_forward_length", std::uint32_t(ffn));
  w.set("llama.attention.head_count", std::uint32_t(4));
  w.set("llama.attention.head_count_kv", std::uint32_t(2));
  w.set("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.set("llama.rope.freq_base", 500000.0f);
  const auto f32 = [](const std::vector<float>& v) {
    std::vector<std::uint8_t> b(v.size() * 4);
    std::memcpy(b.data(), v.data(), b.size());
    return b;
  };
  std::vector<float> emb(std::size_t(vocab * dim));
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (auto& x : emb) x = nd(rng);
  w.add_tensor("token_embd.weight", {std::uint64_t(dim), std::uint64_t(vocab)}, gguf_tensor_type::f32, f32(emb));
  w.add_tensor("blk.0.attn_norm.weight", {std::uint64_t(dim)}, gguf_tensor_type::f32, f32(std::vector<float>(dim, 1.0f)));
  w.add_tensor("blk.0.ffn_norm.weight", {std::uint64_t(dim)}, gguf_tensor_type::f32, f32(std::vector<float>(dim, 2.0f)));
  w.add_tensor("output_norm.weight", {std::uint64_t(dim)}, gguf_tensor_type::f32, f32(std::vector<float>(dim, 0.5f)));
  struct built {
    matrix<std::int8_t> w;  // GGUF row order
    std::vector<float> d;   // per block, rows x blocks
  };
  std::map<std::string, built> made;
  const auto tq = [&](const std::string& name, index in, index out, bool per_block_d) {
    built b{matrix<std::int8_t>(out, in), {}};
    std::vector<std::uint8_t> bytes;
    std::uniform_int_distribution<int> c(-1, 1);
    for (index r = 0; r < out; ++r)
      for (index k = 0; k < in / 256; ++k) {
        std::int8_t blk[256];
        for (int e = 0; e < 256; ++e) b.w(r, k * 256 + e) = blk[e] = std::int8_t(c(rng));
        const float d = per_block_d ? f16_round(0.01f * float(1 + (r * 7 + k * 3) % 11)) : 0.03125f;
        b.d.push_back(d);
        std::uint8_t enc[66];
        hand_tq2(blk, d, enc);
        bytes.insert(bytes.end(), enc, enc + 66);
      }
    w.add_tensor(name, {std::uint64_t(in), std::uint64_t(out)}, gguf_tensor_type::tq2_0, bytes);
    made[name] = std::move(b);
  };
  tq("blk.0.attn_q.weight", dim, dim, true);
  tq("blk.0.attn_k.weight", dim, 2 * hd, true);
  tq("blk.0.attn_v.weight", dim, 2 * hd, true);
  tq("blk.0.attn_output.weight", dim, dim, false);
  tq("blk.0.ffn_gate.weight", dim, ffn, true);
  tq("blk.0.ffn_up.weight", dim, ffn, true);
  tq("blk.0.ffn_down.weight", ffn, dim, false);
  const ti::inference_model m = load_gguf(reread(w, "foreign.gguf"));
  CHECK(m.config().rope_base == 500000.0);
  CHECK(float(m.config().norm_eps) == 1e-5f);
  CHECK(m.config().vocab == vocab);
  CHECK(m.desc().attn_in.granularity == ti::scale_granularity::row);     // one block per row: d per row
  CHECK(m.desc().attn_out.granularity == ti::scale_granularity::tensor);  // every d equal
  CHECK(m.desc().head.format == ti::weight_format::f32);                 // tied to the embedding
  CHECK(m.layer(0).mlp_norm.gain() == std::vector<float>(dim, 2.0f));
  const auto expect = [&](const ti::frozen_linear& l, const std::string& name, index head_rows) {
    INFO(name);
    const built& b = made.at(name);
    const matrix<float> got = dequantized(l);
    const index blocks = b.w.cols() / 256;
    for (index r = 0; r < b.w.rows(); ++r) {
      // GGUF row r of q/k is tern row h d + s d/2 + j for r = h d + 2 j + s
      const index dst = head_rows ? (r / head_rows) * head_rows + (r % head_rows % 2) * (head_rows / 2) + (r % head_rows) / 2 : r;
      for (index j = 0; j < b.w.cols(); ++j)
        if (got(dst, j) != float(b.w(r, j)) * b.d[std::size_t(r * blocks + j / 256)]) FAIL("row " << r << " col " << j);
    }
  };
  expect(m.layer(0).q, "blk.0.attn_q.weight", hd);
  expect(m.layer(0).k, "blk.0.attn_k.weight", hd);
  expect(m.layer(0).v, "blk.0.attn_v.weight", 0);
  expect(m.layer(0).o, "blk.0.attn_output.weight", 0);
  expect(m.layer(0).down, "blk.0.ffn_down.weight", 0);
  const matrix<float> lg = logits_of(m, {1, 2, 3});
  CHECK(lg.allFinite());

  // the same file with refusals
  {
    gguf_writer x = w;
    x.set("general.architecture", "qwen2");
    CHECK_THROWS_WITH(load_gguf(reread(x, "q.gguf")), Catch::Contains("q.gguf") && Catch::Contains("general.architecture"));
  }
  {
    gguf_writer x = w;
    x.add_tensor("rope_freqs.weight", {32}, gguf_tensor_type::f32, std::vector<std::uint8_t>(128));
    CHECK_THROWS_WITH(load_gguf(reread(x)), Catch::Contains("rope_freqs.weight") && Catch::Contains("not part of"));
  }
  {
    gguf_writer x = w;
    x.set("llama.rope.dimension_count", std::uint32_t(32));
    CHECK_THROWS_WITH(load_gguf(reread(x)), Catch::Contains("rope.dimension_count"));
  }
  {
    gguf_writer x = w;
    x.set("llama.embedding_length", std::uint32_t(512));
    CHECK_THROWS_WITH(load_gguf(reread(x)), Catch::Contains("token_embd.weight"));
  }
  {
    gguf_writer x;
    x.set("general.architecture", "llama");
    CHECK_THROWS_WITH(load_gguf(reread(x, "empty.gguf")), Catch::Contains("llama.embedding_length") && Catch::Contains("missing"));
  }
  {
    // a 2-bit code 3 in a block
    auto bytes = w.bytes();
    const gguf_file f = gguf_file::from_bytes(bytes.data(), bytes.size(), "x.gguf");
    const gguf_tensor_info* t = f.find_tensor("blk.0.ffn_up.weight");
    bytes[std::size_t(f.data_offset() + t->offset + 66 * 3 + 10)] = 0xff;
    CHECK_THROWS_WITH(load_gguf(gguf_file::from_bytes(bytes.data(), bytes.size(), "code3.gguf")),
                      Catch::Contains("blk.0.ffn_up.weight") && Catch::Contains("row 3") && Catch::Contains("code 3"));
  }
}

}  // namespace tern
