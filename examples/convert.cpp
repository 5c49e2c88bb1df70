// tern_convert: a model from one format to another, the kind of each path read from the path:
//   a directory   a Hugging Face Llama checkpoint (config.json + safetensors; reading needs tern::hf)
//   *.tern        a tern model file (io/model_file.hpp)
//   *.gguf        a GGUF file (io/gguf_model.hpp: llama, or tern-llama for per-projection norms)
//
// Usage: tern_convert --in PATH --out PATH [--weights f32|tq2|tq1] [--fallback f32|f16|bf16]
//        tern_convert --help
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tern/infer/freeze.hpp"
#include "tern/infer/inference_model.hpp"
#include "tern/io/gguf_model.hpp"
#include "tern/io/model_file.hpp"
#include "tern/quant/absmean_ternary.hpp"

#if __has_include("tern/hf.hpp") && defined(TERN_CONVERT_HF)
#include <fstream>
#include <nlohmann/json.hpp>
#include <sentencepiece_processor.h>

#include "tern/hf.hpp"
#define TERN_CONVERT_WITH_HF 1
#endif

namespace {

namespace fs = std::filesystem;
namespace ti = tern::infer;

const char* usage =
    "usage: tern_convert --in PATH --out PATH [--weights f32|tq2|tq1] [--fallback f32|f16|bf16]\n"
    "  The kind of each path comes from the path: a directory is a Hugging Face Llama checkpoint\n"
    "  (config.json + *.safetensors), *.tern a tern model file, *.gguf a GGUF file.\n"
    "  Conversions:\n"
    "    HF directory -> .tern or .gguf   (reading a checkpoint needs a build with tern::hf)\n"
    "    .tern        -> .gguf or .tern\n"
    "    .gguf        -> .tern or .gguf\n"
    "  An HF checkpoint's tokenizer (byte-level BPE tokenizer.json, or SentencePiece tokenizer.model)\n"
    "  goes into the GGUF file as its vocabulary, a GGUF input's vocabulary is kept; .tern inputs get tern's byte vocabulary.\n"
    "  Writing a Hugging Face directory is not a conversion of this program (see hf_import_export).\n"
    "  A .gguf output is the llama architecture (llama.cpp loads it) unless the model has the\n"
    "  per-projection RMSNorms of the extra-norm recipe: then tern-llama, which only tern reads.\n"
    "  --weights W   what the projections (q k v o gate up down; never the embedding or the LM head)\n"
    "                become; default: as they are in the input (an HF checkpoint: f32).\n"
    "       f32      full precision; ternary projections are dequantized (codes x scales): lossless\n"
    "       tq2      ternary, 2 bits per weight (GGUF TQ2_0). A ternary input keeps its codes and\n"
    "                scales. A full-precision input (an FP checkpoint) is ternarized here with\n"
    "                absmean scales per tensor: that is post-training quantization, which loses\n"
    "                most of a model's quality; fine-tune to ternary instead (tern_finetune).\n"
    "       tq1      ternary, 1.6 bits per weight (GGUF TQ1_0); as tq2 otherwise\n"
    "  --fallback T  GGUF only: the type (f32, f16, bf16) of a ternary projection that TQ1_0/TQ2_0\n"
    "                cannot hold (rows not a multiple of 256 weights, scale groups of another size);\n"
    "                without it such a model is refused with the projection named\n";

struct options {
  std::string in, out, weights, fallback;
};

enum class kind { hf, tern_file, gguf };

kind kind_of(const std::string& p, bool must_exist) {
  std::error_code ec;
  if (fs::is_directory(p, ec)) return kind::hf;
  const std::string ext = fs::path(p).extension().string();
  if (ext == ".tern") return kind::tern_file;
  if (ext == ".gguf") return kind::gguf;
  if (must_exist && !fs::exists(p, ec)) throw std::runtime_error("'" + p + "': no such file or directory");
  throw std::runtime_error("'" + p + "': not a directory, .tern or .gguf path (the kind of a model comes from its path)");
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << usage;
      std::exit(0);
    }
    std::string* dst = a == "--in" ? &o.in : a == "--out" ? &o.out : a == "--weights" ? &o.weights : a == "--fallback" ? &o.fallback : nullptr;
    if (!dst) throw std::invalid_argument("unknown option " + a + " (see --help)");
    if (i + 1 >= argc) throw std::invalid_argument("option " + a + " needs a value");
    *dst = argv[++i];
  }
  if (o.in.empty()) throw std::invalid_argument("--in PATH is required (see --help)");
  if (o.out.empty()) throw std::invalid_argument("--out PATH is required (see --help)");
  if (!o.weights.empty() && o.weights != "f32" && o.weights != "tq2" && o.weights != "tq1")
    throw std::invalid_argument("option --weights: '" + o.weights + "' is not f32, tq2 or tq1");
  if (!o.fallback.empty() && o.fallback != "f32" && o.fallback != "f16" && o.fallback != "bf16")
    throw std::invalid_argument("option --fallback: '" + o.fallback + "' is not f32, f16 or bf16");
  return o;
}

tern::matrix<float> dequantized(const ti::frozen_linear& l) {
  return std::visit([](const auto& w) -> tern::matrix<float> {
    using W = std::decay_t<decltype(w)>;
    if constexpr (std::is_same_v<W, tern::kernels::packed_ternary> || std::is_same_v<W, tern::kernels::packed_ternary_base3>) {
      const tern::quantized<float> q = w.unpack();
      tern::matrix<float> out(q.rows(), q.cols());
      for (tern::index i = 0; i < q.rows(); ++i)
        for (tern::index j = 0; j < q.cols(); ++j) out(i, j) = float(q.codes(i, j)) * w.scale(i, j / w.layout().group);
      return out;
    } else if constexpr (std::is_same_v<W, ti::dense_f32>) {
      return tern::matrix<float>(w.view());
    } else {
      return w.dequantize();
    }
  }, l.weight());
}

/// One projection in the format asked for (see --weights in the usage text).
ti::frozen_linear convert(const ti::frozen_linear& l, const std::string& w, bool& ptq) {
  const bool ternary = ti::is_ternary(l.format());
  if (w == "f32") return ternary || l.format() != ti::weight_format::f32 ? ti::frozen_linear(ti::dense_f32(dequantized(l)), l.input_norm()) : l;
  const tern::quantized<float> q = [&] {
    if (!ternary) {
      ptq = true;
      return tern::absmean_ternary<>::quantize(dequantized(l));
    }
    return std::visit([](const auto& m) -> tern::quantized<float> {
      using W = std::decay_t<decltype(m)>;
      if constexpr (std::is_same_v<W, tern::kernels::packed_ternary> || std::is_same_v<W, tern::kernels::packed_ternary_base3>) return m.unpack();
      else throw std::logic_error("not ternary");
    }, l.weight());
  }();
  if (w == "tq2") return ti::frozen_linear(tern::kernels::packed_ternary(q), l.input_norm());
  return ti::frozen_linear(tern::kernels::packed_ternary_base3(q), l.input_norm());
}

ti::inference_model with_weights(const ti::inference_model& m, const std::string& w, bool& ptq) {
  std::vector<ti::frozen_block> layers;
  for (tern::index l = 0; l < m.config().n_layers; ++l) {
    const ti::frozen_block& b = m.layer(l);
    layers.push_back({b.attn_norm, convert(b.q, w, ptq), convert(b.k, w, ptq), convert(b.v, w, ptq), convert(b.o, w, ptq), b.mlp_norm,
                      convert(b.gate, w, ptq), convert(b.up, w, ptq), convert(b.down, w, ptq)});
  }
  return ti::inference_model(m.config(), m.policy(), m.embedding(), std::move(layers), m.final_norm(), m.head());
}

ti::inference_model load(const std::string& path, kind k) {
  switch (k) {
    case kind::tern_file: return tern::load_model(path);
    case kind::gguf: return tern::load_gguf(path);
    case kind::hf:
#ifdef TERN_CONVERT_WITH_HF
    {
      tern::transformer<float> fp = tern::hf::load_llama<float>(path);
      return ti::freeze(fp);
    }
#else
      throw std::runtime_error("'" + path + "' is a directory (a Hugging Face checkpoint?); this tern_convert was built without "
                               "tern::hf and reads .tern and .gguf files only");
#endif
  }
  throw std::logic_error("kind");
}

#ifdef TERN_CONVERT_WITH_HF
/// A byte-level BPE tokenizer.json as a GGUF gpt2 vocabulary: the model's vocab and merges, the
/// added tokens (special ones as control tokens), bos/eos as the tokenizer names them.
/// A SentencePiece tokenizer.model as a GGUF llama vocabulary: pieces, scores, token types
/// (normal 1, unknown 2, control 3, unused 5, byte 6), bos/eos/unk, BOS added as SentencePiece does.
tern::gguf_vocab spm_vocab(const fs::path& file, tern::index vocab) {
  sentencepiece::SentencePieceProcessor sp;
  const auto st = sp.Load(file.string());
  if (!st.ok()) throw std::runtime_error("'" + file.string() + "': " + st.ToString());
  if (sp.GetPieceSize() != vocab)
    throw std::runtime_error("'" + file.string() + "' has " + std::to_string(sp.GetPieceSize()) + " pieces, the model " +
                             std::to_string(vocab) + " tokens");
  tern::gguf_vocab v;
  v.model = "llama";
  for (int i = 0; i < sp.GetPieceSize(); ++i) {
    v.tokens.push_back(sp.IdToPiece(i));
    v.scores.push_back(sp.GetScore(i));
    v.token_types.push_back(sp.IsUnknown(i) ? 2 : sp.IsControl(i) ? 3 : sp.IsUnused(i) ? 5 : sp.IsByte(i) ? 6 : 1);
  }
  v.bos = sp.bos_id();
  v.eos = sp.eos_id();
  v.unk = sp.unk_id();
  v.pad = sp.pad_id();
  v.add_bos = v.bos >= 0;
  return v;
}

std::optional<tern::gguf_vocab> hf_vocab(const std::string& dir, tern::index vocab) {
  const fs::path tj = fs::path(dir) / "tokenizer.json", spm = fs::path(dir) / "tokenizer.model";
  std::error_code ec;
  if (!fs::exists(tj, ec)) {
    if (fs::exists(spm, ec)) return spm_vocab(spm, vocab);
    return std::nullopt;
  }
  std::ifstream in(tj, std::ios::binary);
  const nlohmann::json j = nlohmann::json::parse(in);
  const auto& model = j.at("model");
  try {
    (void)tern::hf::bpe_tokenizer::from_file(tj.string());  // a byte-level BPE tern reads (validated)
  } catch (const std::exception&) {
    if (fs::exists(spm, ec)) return spm_vocab(spm, vocab);  // e.g. a SentencePiece-style tokenizer.json: its .model
    throw;
  }
  tern::gguf_vocab v;
  v.tokens.assign(std::size_t(vocab), "");
  v.token_types.assign(std::size_t(vocab), 1);
  for (const auto& [tok, id] : model.at("vocab").items()) {
    const auto i = id.get<std::int64_t>();
    if (i >= 0 && i < vocab) v.tokens[std::size_t(i)] = tok;
  }
  if (j.contains("added_tokens"))
    for (const auto& a : j.at("added_tokens")) {
      const auto i = a.at("id").get<std::int64_t>();
      if (i < 0 || i >= vocab) continue;
      v.tokens[std::size_t(i)] = a.at("content").get<std::string>();
      v.token_types[std::size_t(i)] = a.value("special", false) ? 3 : 4;  // control / user-defined
    }
  for (std::size_t i = 0; i < v.tokens.size(); ++i)
    if (v.tokens[i].empty()) v.tokens[i] = "<|unused_" + std::to_string(i) + "|>", v.token_types[i] = 5;
  for (const auto& m : model.at("merges"))
    v.merges.push_back(m.is_string() ? m.get<std::string>() : m.at(0).get<std::string>() + " " + m.at(1).get<std::string>());
  const tern::hf::any_tokenizer t = tern::hf::load_tokenizer(dir);
  v.bos = t.bos_id();
  v.eos = t.eos_id();
  return v;
}
#endif

int run(const options& o) {
  const kind in = kind_of(o.in, true), out = kind_of(o.out, false);
  if (out == kind::hf) throw std::runtime_error("'" + o.out + "' is a directory: tern_convert writes .tern and .gguf files (see --help)");
  ti::inference_model m = load(o.in, in);
  bool ptq = false;
  if (!o.weights.empty()) m = with_weights(m, o.weights, ptq);
  if (ptq)
    std::cerr << "tern_convert: warning: full-precision projections were ternarized without training (post-training "
                 "quantization, absmean per tensor); expect most of the model's quality to be lost\n";
  if (out == kind::tern_file) {
    tern::save_model(o.out, m);
  } else {
    tern::gguf_export_options g;
    g.name = fs::path(o.in).filename().string();
    if (!o.fallback.empty())
      g.fallback = o.fallback == "f32" ? tern::gguf_tensor_type::f32 : o.fallback == "f16" ? tern::gguf_tensor_type::f16 : tern::gguf_tensor_type::bf16;
#ifdef TERN_CONVERT_WITH_HF
    if (in == kind::hf) g.vocab = hf_vocab(o.in, m.config().vocab);
#endif
    if (in == kind::gguf) g.vocab = tern::gguf_read_vocab(tern::gguf_file::open(o.in));  // the input's own vocabulary
    if (!g.vocab && m.config().vocab != 256)
      std::cerr << "tern_convert: warning: no tokenizer to export; the GGUF vocabulary is tern's byte vocabulary with "
                   "placeholder tokens above id 255\n";
    tern::save_gguf(o.out, m, g);
  }
  const ti::model_desc& d = m.desc();
  std::cerr << "tern_convert: " << o.in << " -> " << o.out << " (" << m.config().n_layers << " layers, dim " << m.config().dim
            << ", vocab " << m.config().vocab << ", projections " << ti::format_name(d.attn_in.format)
            << (out == kind::gguf ? ", architecture " + tern::gguf_architecture(m) : std::string()) << ")\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::cerr << "tern_convert: " << e.what() << "\n";
    return 1;
  }
}
