// A tiny random Llama (GQA, untied head) written by this test in the Hugging Face layout
// (config.json + model.safetensors, F32 and BF16, header and bytes laid out here by hand),
// imported by tern, and its logits checked against a plain reference forward written below
// from the transformers formulas (half-split RoPE, GQA, SwiGLU, rms_norm_eps from the config),
// never tern's layers. Then: the import's errors, export back (round trip), and the BitNet export
// checked against the integration's own unpacking and BitLinear forward, written here.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "tern/hf/bitnet_export.hpp"
#include "tern/hf/llama_export.hpp"
#include "tern/hf/llama_import.hpp"
#include "tern/hf/safetensors_file.hpp"

namespace fs = std::filesystem;

using dmat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

namespace {

struct tiny_spec {
  int vocab = 61, hidden = 32, layers = 2, heads = 4, kv_heads = 2, inter = 48, max_pos = 64;
  double eps = 1e-5, theta = 500000.0;
  bool tied = false;
};

// BF16 of a float by round-to-nearest-even on the bit pattern (the format: the top 16 bits).
std::uint16_t to_bf16(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fff + ((u >> 16) & 1);
  return std::uint16_t(u >> 16);
}
float from_bf16(std::uint16_t b) {
  const std::uint32_t u = std::uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// The checkpoint as HF names -> (shape, values); values already rounded to the stored dtype.
struct checkpoint {
  std::map<std::string, std::pair<std::vector<std::int64_t>, std::vector<double>>> tensors;
  const std::vector<double>& at(const std::string& n) const { return tensors.at(n).second; }
  dmat mat(const std::string& n) const {
    const auto& [shape, v] = tensors.at(n);
    dmat m(shape[0], shape.size() > 1 ? shape[1] : 1);
    for (tern::index i = 0; i < m.size(); ++i) m.data()[i] = v[std::size_t(i)];
    return m;
  }
};

checkpoint random_checkpoint(const tiny_spec& s, std::uint32_t seed, bool bf16) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> n01(0.0, 1.0);
  checkpoint c;
  auto add = [&](const std::string& name, std::vector<std::int64_t> shape, double mean, double sd) {
    std::int64_t count = 1;
    for (auto d : shape) count *= d;
    std::vector<double> v(static_cast<std::size_t>(count));
    for (auto& x : v) {
      const float f = float(mean + sd * n01(gen));
      x = bf16 ? double(from_bf16(to_bf16(f))) : double(f);
    }
    c.tensors[name] = {shape, v};
  };
  const int hd = s.hidden / s.heads;
  add("model.embed_tokens.weight", {s.vocab, s.hidden}, 0, 1.0);
  for (int l = 0; l < s.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {s.hidden}, 1, 0.2);
    add(p + "self_attn.q_proj.weight", {s.heads * hd, s.hidden}, 0, 0.3);
    add(p + "self_attn.k_proj.weight", {s.kv_heads * hd, s.hidden}, 0, 0.3);
    add(p + "self_attn.v_proj.weight", {s.kv_heads * hd, s.hidden}, 0, 0.3);
    add(p + "self_attn.o_proj.weight", {s.hidden, s.heads * hd}, 0, 0.2);
    add(p + "post_attention_layernorm.weight", {s.hidden}, 1, 0.2);
    add(p + "mlp.gate_proj.weight", {s.inter, s.hidden}, 0, 0.3);
    add(p + "mlp.up_proj.weight", {s.inter, s.hidden}, 0, 0.3);
    add(p + "mlp.down_proj.weight", {s.hidden, s.inter}, 0, 0.2);
  }
  add("model.norm.weight", {s.hidden}, 1, 0.2);
  if (!s.tied) add("lm_head.weight", {s.vocab, s.hidden}, 0, 0.3);
  return c;
}

std::string config_json(const tiny_spec& s, const std::string& extra = "") {
  return "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": " +
         std::to_string(s.hidden) + ", \"intermediate_size\": " + std::to_string(s.inter) +
         ", \"num_hidden_layers\": " + std::to_string(s.layers) + ", \"num_attention_heads\": " + std::to_string(s.heads) +
         ", \"num_key_value_heads\": " + std::to_string(s.kv_heads) + ", \"vocab_size\": " + std::to_string(s.vocab) +
         ", \"max_position_embeddings\": " + std::to_string(s.max_pos) + ", \"rms_norm_eps\": " + std::to_string(s.eps) +
         ", \"rope_theta\": " + std::to_string(s.theta) + ", \"tie_word_embeddings\": " + (s.tied ? "true" : "false") +
         ", \"hidden_act\": \"silu\", \"attention_bias\": false, \"bos_token_id\": 1, \"eos_token_id\": 2, "
         "\"torch_dtype\": \"bfloat16\"" + extra + "}";
}

// The safetensors layout written out directly: header JSON, padding, little-endian data.
void write_checkpoint(const fs::path& file, const checkpoint& c, bool bf16,
                      const std::vector<std::string>& skip = {}, const std::string& extra_tensor = "") {
  std::string header = "{\"__metadata__\": {\"format\": \"pt\"}";
  std::vector<std::uint8_t> data;
  auto append = [&](const std::string& name, const std::vector<std::int64_t>& shape, const std::vector<double>& v) {
    const std::size_t begin = data.size();
    for (double x : v) {
      if (bf16) {
        const std::uint16_t b = to_bf16(float(x));
        data.push_back(std::uint8_t(b));
        data.push_back(std::uint8_t(b >> 8));
      } else {
        const float f = float(x);
        std::uint8_t bytes[4];
        std::memcpy(bytes, &f, 4);
        data.insert(data.end(), bytes, bytes + 4);
      }
    }
    header += ", \"" + name + "\": {\"dtype\": \"" + (bf16 ? "BF16" : "F32") + "\", \"shape\": [";
    for (std::size_t i = 0; i < shape.size(); ++i) header += (i ? ", " : "") + std::to_string(shape[i]);
    header += "], \"data_offsets\": [" + std::to_string(begin) + ", " + std::to_string(data.size()) + "]}";
  };
  for (auto it = c.tensors.rbegin(); it != c.tensors.rend(); ++it)  // not tern's order
    if (std::find(skip.begin(), skip.end(), it->first) == skip.end()) append(it->first, it->second.first, it->second.second);
  if (!extra_tensor.empty()) append(extra_tensor, {4}, {1, 2, 3, 4});
  header += "}";
  while ((header.size() + 8) % 8 != 0) header += ' ';
  std::ofstream out(file, std::ios::binary);
  const std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.put(char(std::uint8_t(n >> (8 * i))));
  out << header;
  out.write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size()));
}

void write_dir(const fs::path& dir, const tiny_spec& s, const checkpoint& c, bool bf16) {
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << config_json(s);
  write_checkpoint(dir / "model.safetensors", c, bf16);
}

dmat rms(const dmat& x, const std::vector<double>& w, double eps) {
  dmat y(x.rows(), x.cols());
  for (tern::index i = 0; i < x.rows(); ++i) {
    const double r = 1.0 / std::sqrt(x.row(i).squaredNorm() / double(x.cols()) + eps);
    for (tern::index j = 0; j < x.cols(); ++j) y(i, j) = x(i, j) * r * w[std::size_t(j)];
  }
  return y;
}

// transformers' LlamaForCausalLM forward for one sequence, in double.
dmat reference_logits(const tiny_spec& s, const checkpoint& c, const std::vector<int>& tokens) {
  const tern::index S = tern::index(tokens.size()), D = s.hidden, hd = D / s.heads, group = s.heads / s.kv_heads;
  const dmat E = c.mat("model.embed_tokens.weight");
  dmat x(S, D);
  for (tern::index t = 0; t < S; ++t) x.row(t) = E.row(tokens[std::size_t(t)]);
  auto rope = [&](dmat& m, int n_heads) {  // q * cos + rotate_half(q) * sin, rotate_half = (-x2, x1)
    for (tern::index t = 0; t < S; ++t)
      for (int h = 0; h < n_heads; ++h)
        for (tern::index i = 0; i < hd / 2; ++i) {
          const double f = std::pow(s.theta, -2.0 * double(i) / double(hd)), a = double(t) * f;
          const double x1 = m(t, h * hd + i), x2 = m(t, h * hd + i + hd / 2);
          m(t, h * hd + i) = x1 * std::cos(a) - x2 * std::sin(a);
          m(t, h * hd + i + hd / 2) = x2 * std::cos(a) + x1 * std::sin(a);
        }
  };
  for (int l = 0; l < s.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    const dmat h = rms(x, c.at(p + "input_layernorm.weight"), s.eps);
    dmat q = h * c.mat(p + "self_attn.q_proj.weight").transpose();
    dmat k = h * c.mat(p + "self_attn.k_proj.weight").transpose();
    const dmat v = h * c.mat(p + "self_attn.v_proj.weight").transpose();
    rope(q, s.heads);
    rope(k, s.kv_heads);
    dmat ctx = dmat::Zero(S, s.heads * hd);
    for (int hh = 0; hh < s.heads; ++hh) {
      const int g = hh / group;
      for (tern::index i = 0; i < S; ++i) {
        std::vector<double> w(std::size_t(i + 1));
        double mx = -1e300, sum = 0;
        for (tern::index j = 0; j <= i; ++j) {
          w[std::size_t(j)] = q.row(i).segment(hh * hd, hd).dot(k.row(j).segment(g * hd, hd)) / std::sqrt(double(hd));
          mx = std::max(mx, w[std::size_t(j)]);
        }
        for (auto& a : w) sum += (a = std::exp(a - mx));
        for (tern::index j = 0; j <= i; ++j) ctx.block(i, hh * hd, 1, hd) += w[std::size_t(j)] / sum * v.block(j, g * hd, 1, hd);
      }
    }
    x += ctx * c.mat(p + "self_attn.o_proj.weight").transpose();
    const dmat h2 = rms(x, c.at(p + "post_attention_layernorm.weight"), s.eps);
    const dmat a = h2 * c.mat(p + "mlp.gate_proj.weight").transpose();
    const dmat u = h2 * c.mat(p + "mlp.up_proj.weight").transpose();
    const dmat act = (a.array() / (1.0 + (-a.array()).exp()) * u.array()).matrix();
    x += act * c.mat(p + "mlp.down_proj.weight").transpose();
  }
  const dmat head = s.tied ? E : c.mat("lm_head.weight");
  return rms(x, c.at("model.norm.weight"), s.eps) * head.transpose();
}

struct temp_dir {
  fs::path path;
  explicit temp_dir(const std::string& name) : path(fs::temp_directory_path() / ("tern_test_" + name)) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~temp_dir() { fs::remove_all(path); }
};

const std::vector<int> seq_a = {3, 17, 60, 0, 42, 42, 7};
const std::vector<int> seq_b = {59, 1, 2, 30, 11, 5, 8};

template <class Model>
void check_logits(Model& m, const tiny_spec& s, const checkpoint& c, double tol) {
  std::vector<tern::token> both(seq_a.begin(), seq_a.end());
  both.insert(both.end(), seq_b.begin(), seq_b.end());
  const auto logits = m.forward(both, tern::index(seq_a.size()));
  const dmat ra = reference_logits(s, c, seq_a), rb = reference_logits(s, c, seq_b);
  const dmat got = logits.template cast<double>();
  const double scale = std::max(ra.cwiseAbs().maxCoeff(), rb.cwiseAbs().maxCoeff());
  CHECK((got.topRows(ra.rows()) - ra).cwiseAbs().maxCoeff() <= tol * scale);
  CHECK((got.bottomRows(rb.rows()) - rb).cwiseAbs().maxCoeff() <= tol * scale);
  CHECK(scale > 0.5);  // the logits are not trivially small
}

std::vector<std::uint8_t> tensor_bytes(const tern::hf::safetensors_file& f, const std::string& n) {
  const auto& t = f.at(n);
  return {t.bytes.begin(), t.bytes.end()};
}

}  // namespace

TEST_CASE("llama import: logits of a tiny GQA Llama match the reference forward (F32 and BF16)") {
  for (bool bf16 : {false, true}) {
    INFO((bf16 ? "BF16" : "F32"));
    temp_dir dir(bf16 ? "llama_bf16" : "llama_f32");
    const tiny_spec s;
    const checkpoint c = random_checkpoint(s, 7, bf16);
    write_dir(dir.path, s, c, bf16);
    auto md = tern::hf::load_llama<double>(dir.path.string());
    CHECK(md.config().n_kv_heads == 2);
    CHECK(md.config().norm_eps == 1e-5);
    check_logits(md, s, c, 1e-9);
    auto mf = tern::hf::load_llama<float>(dir.path.string());
    check_logits(mf, s, c, 2e-5);
  }
}

TEST_CASE("llama import: rms_norm_eps reaches every norm, including the extra norms") {
  temp_dir dir("llama_eps");
  tiny_spec s;
  s.eps = 0.25;  // large enough to change the logits visibly
  const checkpoint c = random_checkpoint(s, 9, false);
  write_dir(dir.path, s, c, false);
  auto m = tern::hf::load_llama<double>(dir.path.string());
  check_logits(m, s, c, 1e-9);
  auto q = tern::hf::load_llama<float, tern::extra_norm_policy>(dir.path.string());
  CHECK(q.layer(1).attn().k().norm().eps() == 0.25f);
  CHECK(q.layer(0).mlp().down().norm().eps() == 0.25f);
  CHECK(q.layer(0).attn_norm().eps() == 0.25f);
  CHECK(q.final_norm().eps() == 0.25f);
  // the default stays 1e-6
  tern::transformer<float> plain(tern::transformer_config{}, 1);
  CHECK(plain.layer(0).mlp_norm().eps() == 1e-6f);
}

TEST_CASE("llama import: into the paper's policy, fine-tuning starts from the imported weights") {
  temp_dir dir("llama_paper");
  const tiny_spec s;
  const checkpoint c = random_checkpoint(s, 11, false);
  write_dir(dir.path, s, c, false);
  auto fp = tern::hf::load_llama<float>(dir.path.string());
  auto q = tern::hf::load_llama<float, tern::extra_norm_policy>(dir.path.string());
  CHECK(q.layer(1).mlp().up().weight().value == fp.layer(1).mlp().up().weight().value);
  CHECK(q.layer(0).attn().q().norm().gain_parameter().value.isOnes());
  CHECK(q.head().weight().value == fp.head().weight().value);
  // the same as building the FP model and copying (the demo's route)
  tern::transformer<float, tern::extra_norm_policy> copy(fp.config(), 5);
  copy.copy_parameters_from(fp);
  std::vector<tern::token> toks(seq_a.begin(), seq_a.end());
  copy.set_lambda(0.5);
  q.set_lambda(0.5);
  CHECK(copy.forward(toks, 7) == q.forward(toks, 7));
}

TEST_CASE("llama import: tied embeddings are untied by copying") {
  temp_dir dir("llama_tied");
  tiny_spec s;
  s.tied = true;
  const checkpoint c = random_checkpoint(s, 13, false);
  write_dir(dir.path, s, c, false);
  auto m = tern::hf::load_llama<double>(dir.path.string());
  CHECK(m.head().weight().value == m.embed().weight().value);
  check_logits(m, s, c, 1e-9);
}

TEST_CASE("llama import: unsupported configs and mismatched tensors are clear errors") {
  temp_dir dir("llama_errors");
  const tiny_spec s;
  const checkpoint c = random_checkpoint(s, 17, false);
  write_dir(dir.path, s, c, false);
  const auto file = (dir.path / "config.json").string();
  auto config_error = [&](const std::string& extra, const std::string& expect) {
    INFO(extra);
    std::ofstream(file) << config_json(s, extra);
    CHECK_THROWS_WITH(tern::hf::load_llama<float>(dir.path.string()),
                      Catch::Contains("config.json") && Catch::Contains(expect));
  };
  config_error(", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0}", "rope_scaling");
  config_error(", \"sliding_window\": 4096", "sliding_window");
  config_error(", \"mlp_bias\": true", "mlp_bias: true is not supported");
  config_error(", \"head_dim\": 16", "head_dim: 16 differs");
  config_error(", \"model_type\": \"qwen2\"", "model_type");
  std::ofstream(file) << "{\"model_type\": \"llama\"}";
  CHECK_THROWS_WITH(tern::hf::load_llama<float>(dir.path.string()), Catch::Contains("hidden_size: missing"));
  std::ofstream(file) << config_json(s);
  const auto st = dir.path / "model.safetensors";
  write_checkpoint(st, c, false, {"model.layers.1.mlp.up_proj.weight"});
  CHECK_THROWS_WITH(tern::hf::load_llama<float>(dir.path.string()),
                    Catch::Contains("tensor 'model.layers.1.mlp.up_proj.weight'") && Catch::Contains("missing"));
  write_checkpoint(st, c, false, {}, "model.layers.0.self_attn.q_proj.bias");
  CHECK_THROWS_WITH(tern::hf::load_llama<float>(dir.path.string()),
                    Catch::Contains("'model.layers.0.self_attn.q_proj.bias' has no place") && Catch::Contains("biases"));
  write_checkpoint(st, c, false, {"lm_head.weight"});
  CHECK_THROWS_WITH(tern::hf::load_llama<float>(dir.path.string()),
                    Catch::Contains("'lm_head.weight'") && Catch::Contains("tie_word_embeddings is false"));
  write_checkpoint(st, c, false, {}, "model.layers.0.self_attn.rotary_emb.inv_freq");  // derived buffer: skipped
  CHECK_NOTHROW(tern::hf::load_llama<float>(dir.path.string()));
  tiny_spec wide = s;
  wide.inter = 40;
  std::ofstream(file) << config_json(wide);
  CHECK_THROWS_WITH(tern::hf::load_llama<float>(dir.path.string()),
                    Catch::Contains("has shape [48, 32]") && Catch::Contains("needs [40, 32]"));
}

TEST_CASE("llama export: round trip to the same layout, bit-identical for F32 and BF16, tied kept") {
  for (int variant = 0; variant < 3; ++variant) {
    const bool bf16 = variant == 1, tied = variant == 2;
    INFO("variant " << variant);
    temp_dir dir("llama_rt_in"), out("llama_rt_out");
    tiny_spec s;
    s.tied = tied;
    const checkpoint c = random_checkpoint(s, 19, bf16);
    write_dir(dir.path, s, c, bf16);
    const auto config = tern::hf::read_llama_config(dir.path.string());
    auto m = tern::hf::load_llama<float>(dir.path.string());
    tern::hf::llama_export_options opt;
    opt.dtype = bf16 ? tern::safetensors_dtype::BF16 : tern::safetensors_dtype::F32;
    tern::hf::export_llama(out.path.string(), m, config, opt);
    const auto a = tern::hf::safetensors_file::open((dir.path / "model.safetensors").string());
    const auto b = tern::hf::safetensors_file::open((out.path / "model.safetensors").string());
    REQUIRE(a.tensors().size() == b.tensors().size());
    for (const auto& t : a.tensors()) {
      INFO(t.name);
      REQUIRE(b.find(t.name));
      CHECK(b.at(t.name).shape == t.shape);
      CHECK(b.at(t.name).dtype == t.dtype);
      CHECK(tensor_bytes(a, t.name) == tensor_bytes(b, t.name));
    }
    const auto back = tern::hf::read_llama_config(out.path.string());
    CHECK(back.tie_word_embeddings == tied);
    CHECK(back.num_key_value_heads == 2);
    CHECK(back.rms_norm_eps == s.eps);
    CHECK(back.raw.at("bos_token_id") == 1);  // unknown keys are kept
    auto again = tern::hf::load_llama<double>(out.path.string());
    check_logits(again, s, c, 1e-6);
  }
}

TEST_CASE("llama export: extra norms have no place in a Llama; untied heads cannot be written tied") {
  temp_dir dir("llama_ex_err"), out("llama_ex_err_out");
  const tiny_spec s;
  write_dir(dir.path, s, random_checkpoint(s, 23, false), false);
  const auto config = tern::hf::read_llama_config(dir.path.string());
  auto q = tern::hf::load_llama<float, tern::extra_norm_policy>(dir.path.string());
  CHECK_THROWS_WITH(tern::hf::export_llama(out.path.string(), q, config),
                    Catch::Contains("layers.0.attn.q.norm.gain") && Catch::Contains("export_bitnet"));
  auto m = tern::hf::load_llama<float>(dir.path.string());
  tern::hf::llama_export_options opt;
  opt.tie_word_embeddings = true;
  CHECK_THROWS_WITH(tern::hf::export_llama(out.path.string(), m, config, opt), Catch::Contains("head differs"));
}

TEST_CASE("bitnet export: packing matches the integration's unpack rule on a known matrix") {
  // out = 5 rows -> R = 2 packed rows; packed row r holds rows r, 2 + r, 4 + r in bits 0-1, 2-3, 4-5.
  tern::matrix<std::int8_t> codes(5, 2);
  codes << -1, 0, 1, 1, 0, -1, -1, 1, 1, 0;
  const auto packed = tern::hf::pack_bitnet_rows(codes);
  REQUIRE(packed.size() == 4);
  // packed[0][0]: rows 0, 2, 4 col 0 = -1, 0, 1 -> codes 0, 1, 2 -> 0 | 1 << 2 | 2 << 4 = 0x24
  CHECK(int(packed[0]) == 0x24);
  // packed[1][1]: rows 1, 3 col 1 = 1, 1 -> 2 | 2 << 2 = 0x0A
  CHECK(int(packed[3]) == 0x0A);
  // unpack as the integration does: value of row i * R + r is ((p >> 2i) & 3) - 1
  for (tern::index r = 0; r < 5; ++r)
    for (tern::index col = 0; col < 2; ++col) {
      const int p = packed[std::size_t((r % 2) * 2 + col)];
      CHECK(((p >> (2 * (r / 2))) & 3) - 1 == codes(r, col));
    }
}

TEST_CASE("bitnet export: the paper's model in the integration's layout reproduces tern's projections") {
  temp_dir dir("bitnet_in"), out("bitnet_out");
  const tiny_spec s;
  write_dir(dir.path, s, random_checkpoint(s, 29, false), false);
  const auto config = tern::hf::read_llama_config(dir.path.string());
  auto q = tern::hf::load_llama<float, tern::extra_norm_policy>(dir.path.string());
  std::mt19937 gen(3);
  std::uniform_real_distribution<float> u(0.5f, 1.5f);
  q.for_each_parameter([&](std::string_view name, tern::parameter<float>& p) {
    if (tern::hf::detail::ends_with(name, ".norm.gain")) p.value = p.value.unaryExpr([&](float) { return u(gen); });
  });
  tern::hf::bitnet_export_options opt;
  opt.dtype = tern::safetensors_dtype::F32;
  tern::hf::export_bitnet(out.path.string(), q, config, opt);

  std::ifstream cj(out.path / "config.json");
  const auto j = nlohmann::json::parse(cj);
  const auto& qc = j.at("quantization_config");
  CHECK(qc.at("quant_method") == "bitnet");
  CHECK(qc.at("use_rms_norm") == true);
  CHECK(qc.at("rms_norm_eps") == 1e-5);
  CHECK(qc.at("modules_to_not_convert") == nlohmann::json::array({"lm_head"}));

  const auto f = tern::hf::safetensors_file::open((out.path / "model.safetensors").string());
  CHECK(f.at("lm_head.weight").dtype == tern::safetensors_dtype::F32);
  CHECK_FALSE(f.find("lm_head.weight_scale"));
  const std::vector<std::pair<std::string, tern::bit_linear<float, tern::absmean_ternary<>, tern::absmax_int8<>>*>> projs = {
      {"model.layers.0.self_attn.q_proj", &q.layer(0).attn().q()},
      {"model.layers.1.self_attn.k_proj", &q.layer(1).attn().k()},
      {"model.layers.1.mlp.down_proj", &q.layer(1).mlp().down()}};
  std::normal_distribution<double> n01;
  for (const auto& [name, lin] : projs) {
    INFO(name);
    const auto& w = f.at(name + ".weight");
    const tern::index out_f = lin->out_features(), in_f = lin->in_features(), R = (out_f + 3) / 4;
    REQUIRE(w.dtype == tern::safetensors_dtype::U8);
    REQUIRE(w.shape == std::vector<std::int64_t>{R, in_f});
    // The integration's BitLinear forward with use_rms_norm, in double:
    //   xn = rms_norm(x) * g;  s_x = 127 / max|xn|;  xq = clamp(round(xn s_x), -128, 127)
    //   y = (xq . unpack(W)^T) / (s_x * weight_scale)
    dmat W(out_f, in_f);
    for (tern::index r = 0; r < out_f; ++r)
      for (tern::index col = 0; col < in_f; ++col)
        W(r, col) = double(((w.bytes[std::size_t((r % R) * in_f + col)] >> (2 * (r / R))) & 3)) - 1.0;
    const double ws = f.to_matrix<double>(name + ".weight_scale")(0, 0);
    const auto g = f.to_matrix<double>(name + ".rms_norm.weight");
    dmat x(5, in_f);
    for (tern::index i = 0; i < x.size(); ++i) x.data()[i] = n01(gen);
    dmat ref(5, out_f);
    for (tern::index i = 0; i < 5; ++i) {
      const double r = 1.0 / std::sqrt(x.row(i).squaredNorm() / double(in_f) + s.eps);
      Eigen::RowVectorXd xn = (x.row(i).array() * r * g.row(0).array()).matrix();
      const double sx = 127.0 / std::max(xn.cwiseAbs().maxCoeff(), 1e-5);
      for (tern::index k = 0; k < in_f; ++k) xn(k) = std::clamp(std::nearbyint(xn(k) * sx), -128.0, 127.0);
      ref.row(i) = (xn * W.transpose()) / (sx * ws);
    }
    lin->set_lambda(1.0f);
    const dmat got = lin->forward(x.cast<float>()).cast<double>();
    CHECK((got - ref).cwiseAbs().maxCoeff() <= 1e-4 * ref.cwiseAbs().maxCoeff());
  }
}

TEST_CASE("bitnet export: plain QAT has no rms_norm tensors; per-channel scales are refused") {
  temp_dir dir("bitnet_qat_in"), out("bitnet_qat_out");
  const tiny_spec s;
  write_dir(dir.path, s, random_checkpoint(s, 31, false), false);
  const auto config = tern::hf::read_llama_config(dir.path.string());
  auto q = tern::hf::load_llama<float, tern::qat_policy>(dir.path.string());
  tern::hf::export_bitnet(out.path.string(), q, config);
  const auto f = tern::hf::safetensors_file::open((out.path / "model.safetensors").string());
  CHECK(f.find("model.layers.0.mlp.up_proj.weight_scale"));
  CHECK(f.at("model.layers.0.mlp.up_proj.weight_scale").dtype == tern::safetensors_dtype::BF16);
  CHECK_FALSE(f.find("model.layers.0.mlp.up_proj.rms_norm.weight"));
  using per_channel_policy = tern::model_policy<tern::projection<tern::absmean_ternary<tern::per_channel>, tern::absmax_int8<>>>;
  auto pc = tern::hf::load_llama<float, per_channel_policy>(dir.path.string());
  CHECK_THROWS_WITH(tern::hf::export_bitnet(out.path.string(), pc, config),
                    Catch::Contains("self_attn.q_proj") && Catch::Contains("one per tensor"));
}
