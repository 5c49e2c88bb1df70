// tern_generate: load a model, run a prompt through it and stream the sampled continuation.
// Only the generated text goes to stdout (as it comes); the statistics (prefill and decode
// tokens/s) go to stderr.
//
// The model is a tern model file (.tern) or, when built with tern::hf, a Hugging Face Llama
// checkpoint directory (run in full precision: every projection frozen as FP32). The tokenizer:
// byte-level for a vocabulary of 256 with no tokenizer given; otherwise the checkpoint's own
// (a directory with tokenizer.json or tokenizer.model: --tokenizer DIR, the checkpoint directory
// itself, or MODEL.tern.tokenizer/ next to a model file, as tern_finetune writes it).
//
// Usage: tern_generate --model PATH --prompt TEXT [-n N] [--temperature T] [--top-k K]
//                      [--top-p P] [--seed S] [--threads N] [--path NAME] [--stop-byte B]
//                      [--tokenizer DIR] [--bos] [--no-mmap]
//        tern_generate --help
#include <Eigen/Core>
#include <algorithm>
#include <cstdio>
#include <functional>
#include <span>
#include <string_view>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cli_number.hpp"
#include "tern/infer/generate.hpp"
#include "tern/infer/session.hpp"
#include "tern/io/gguf_model.hpp"
#include "tern/io/model_file.hpp"
#include "tern/kernels/arch.hpp"
#include "tern/kernels/executor.hpp"
#include "tern/tokenizer/byte_tokenizer.hpp"

#ifdef TERN_GENERATE_HF
#include "tern/hf.hpp"
#include "tern/infer/freeze.hpp"
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

const char* usage =
    "usage: tern_generate --model PATH --prompt TEXT [options]\n"
    "  --model PATH       a tern model file (.tern: tern_demo --save-model, tern_finetune --out,\n"
    "                     tern::save_model), a GGUF file (.gguf: llama or tern-llama, F32 F16 BF16\n"
    "                     TQ1_0 TQ2_0) or a Hugging Face Llama checkpoint directory (run in\n"
    "                     full precision; needs a build with tern::hf)\n"
    "  --prompt TEXT      the text to continue (byte-level models: its bytes are the tokens)\n"
    "  --tokenizer DIR    a directory with tokenizer.json or tokenizer.model (default: the checkpoint\n"
    "                     directory, or MODEL.tern.tokenizer/ when it exists, else bytes)\n"
    "  --bos              put the tokenizer's BOS token before the prompt\n"
    "  -n N               tokens to generate (default 128)\n"
    "  --temperature T    0 = greedy (default 0.8)\n"
    "  --top-k K          keep the K most probable tokens (default 0 = all)\n"
    "  --top-p P          keep the most probable tokens up to probability P (default 1 = all)\n"
    "  --seed S           sampling seed (default 0); the same seed gives the same text\n"
    "  --threads N        threads for the kernels (default: the machine's cores)\n"
    "  --path NAME        kernel path: ref, xsimd, avx2, avx512bw, avx512vnni, amx, neon, neon-dotprod\n"
    "                     (default: the best this CPU runs)\n"
    "  --stop-byte B      stop when byte B (0-255) is generated (it is not printed); with a\n"
    "                     tokenizer, generation stops at its EOS token\n"
    "  --no-mmap          read the file into memory instead of mapping it\n"
    "Writes the continuation (not the prompt) to stdout and statistics to stderr.\n";

struct options {
  std::string model, prompt, tokenizer;
  bool has_prompt = false, bos = false;
  tern::index n = 128;
  tern::infer::sampling_options sampling;
  int threads = 0;
  std::string path;
  int stop_byte = -1;
  bool mmap = true;
};

/// The whole text as a V within [lo, hi] (cli_number.hpp's strict parse).
template <class V>
V number(const std::string& opt, const std::string& text, V lo, V hi, const char* why) {
  const V v = tern_cli::parse_number<V>(opt, text);
  tern_cli::check_range(opt.c_str(), v, lo, hi, why);
  return v;
}

options parse(int argc, char** argv) {
  options o;
  o.sampling.temperature = 0.8;
  const std::vector<std::string> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      std::cout << usage;
      std::exit(0);
    }
    if (a == "--no-mmap") {
      o.mmap = false;
      continue;
    }
    if (a == "--bos") {
      o.bos = true;
      continue;
    }
    if (i + 1 >= args.size()) throw std::invalid_argument("option " + a + " needs a value (or is unknown; see --help)");
    const std::string& v = args[++i];
    if (a == "--model") o.model = v;
    else if (a == "--prompt") {
      o.prompt = v;
      o.has_prompt = true;
    }
    else if (a == "-n") o.n = number<tern::index>(a, v, 0, tern::index(1) << 24, "more than anyone waits for: a typo, not a hang");
    else if (a == "--temperature") o.sampling.temperature = number<double>(a, v, 0.0, 1000.0, "0 is greedy; above 1000 the distribution is flat");
    else if (a == "--top-k") o.sampling.top_k = number<tern::index>(a, v, 0, tern::index(1) << 24, "the largest vocabulary tern loads");
    else if (a == "--top-p") o.sampling.top_p = number<double>(a, v, std::numeric_limits<double>::min(), 1.0, "a probability mass");
    else if (a == "--seed") o.sampling.seed = tern_cli::parse_number<std::uint64_t>(a, v);
    else if (a == "--threads") o.threads = number<int>(a, v, 1, 1024, "a thread pool, not a fork bomb");
    else if (a == "--stop-byte") o.stop_byte = number<int>(a, v, 0, 255, "a byte");
    else if (a == "--path") o.path = v;
    else if (a == "--tokenizer") o.tokenizer = v;
    else throw std::invalid_argument("unknown option " + a + " (see --help)");
  }
  if (o.model.empty()) throw std::invalid_argument("--model PATH is required");
  if (!o.has_prompt) throw std::invalid_argument("--prompt TEXT is required");
  if (o.prompt.empty()) throw std::invalid_argument("--prompt: the prompt is empty; give at least one byte");
  return o;
}

tern::kernels::path path_named(const std::string& name) {
  for (tern::kernels::path p : tern::kernels::all_paths)
    if (tern::kernels::path_name(p) == name) return p;
  std::string known;
  for (tern::kernels::path p : tern::kernels::all_paths) known += std::string(known.empty() ? "" : ", ") + std::string(tern::kernels::path_name(p));
  throw std::invalid_argument("option --path: unknown kernel path '" + name + "' (this build has " + known + ")");
}

namespace fs = std::filesystem;

/// How text becomes tokens and back: bytes, or a Hugging Face tokenizer.
struct text_codec {
  bool bytes = true;
  std::string kind = "bytes";
  tern::index vocab = 256;  ///< ids below this have a text
  tern::token bos = -1, eos = -1;
  std::function<std::vector<tern::token>(std::string_view)> encode;
  std::function<std::string(std::span<const tern::token>)> decode;
};

tern::infer::inference_model load(const options& o) {
  std::error_code ec;
  if (fs::is_directory(o.model, ec)) {
    if (!fs::exists(fs::path(o.model) / "config.json", ec))
      throw std::runtime_error("'" + o.model + "' is a directory but not a Hugging Face checkpoint (no config.json)");
#ifdef TERN_GENERATE_HF
    tern::transformer<float> fp = tern::hf::load_llama<float>(o.model);
    return tern::infer::freeze(fp);
#else
    throw std::runtime_error("'" + o.model + "' is a directory (a Hugging Face checkpoint?); this tern_generate was "
                             "built without tern::hf (nlohmann-json, pcre2, sentencepiece) and reads tern model files only");
#endif
  }
  if (o.model.size() >= 5 && o.model.compare(o.model.size() - 5, 5, ".gguf") == 0) return tern::load_gguf(o.model);
  return tern::load_model(o.model, {.mmap = o.mmap});
}

text_codec codec_for(const options& o, const tern::transformer_config& c) {
  std::string dir = o.tokenizer;
  std::error_code ec;
  if (dir.empty() && fs::is_directory(o.model, ec)) dir = o.model;
  if (dir.empty() && fs::is_directory(o.model + ".tokenizer", ec)) dir = o.model + ".tokenizer";
  text_codec codec;
  if (dir.empty()) {
    if (c.vocab != 256)
      throw std::runtime_error("'" + o.model + "' has a vocabulary of " + std::to_string(c.vocab) +
                               " tokens and no tokenizer was found (no " + o.model +
                               ".tokenizer/); give its tokenizer directory with --tokenizer DIR");
    const tern::byte_tokenizer bytes;
    codec.encode = [bytes](std::string_view s) { return bytes.encode(s); };
    codec.decode = [bytes](std::span<const tern::token> ids) { return bytes.decode(ids); };
    return codec;
  }
#ifdef TERN_GENERATE_HF
  const tern::hf::any_tokenizer tok = tern::hf::load_tokenizer(dir);
  if (tok.vocab_size() > c.vocab)
    throw std::runtime_error("the tokenizer in '" + dir + "' has " + std::to_string(tok.vocab_size()) +
                             " tokens, the model '" + o.model + "' only " + std::to_string(c.vocab));
  codec.bytes = false;
  codec.kind = tok.kind() + " from " + dir;
  codec.bos = tok.bos_id();
  codec.eos = tok.eos_id();
  codec.vocab = tok.vocab_size();
  codec.encode = [tok](std::string_view s) { return tok.encode(s); };
  codec.decode = [tok](std::span<const tern::token> ids) { return tok.decode(ids); };
  return codec;
#else
  throw std::runtime_error("a tokenizer directory ('" + dir + "') needs tern::hf, which this tern_generate was built without");
#endif
}

int run(const options& o) {
  const unsigned threads = o.threads > 0 ? unsigned(o.threads) : std::max(1u, std::thread::hardware_concurrency());
#ifdef _OPENMP
  omp_set_num_threads(int(threads));  // Eigen's GEMM (FP32 projections of a prefill)
#endif
  Eigen::setNbThreads(int(threads));
  const tern::kernels::path path = o.path.empty() ? tern::kernels::detect_path() : path_named(o.path);
  const tern::infer::inference_model model = load(o);
  const text_codec codec = codec_for(o, model.config());
  const tern::transformer_config& c = model.config();
  std::cerr << "model: " << o.model << " (" << model.policy() << ", " << c.n_layers << " layers, dim " << c.dim << ", "
            << tern::infer::format_name(model.desc().attn_in.format) << " projections, "
            << tern::infer::format_name(model.desc().head.format) << " head, " << model.resident_bytes() << " bytes, "
            << model.bits_per_linear_weight() << " bits per linear weight); tokenizer: " << codec.kind << "; kernels: "
            << tern::kernels::path_name(path) << ", " << threads << " thread(s)\n";
  tern::kernels::thread_pool pool(threads);
  tern::infer::session s(model, path);
  std::vector<tern::token> prompt = codec.encode(o.prompt);
  if (o.bos) {
    if (codec.bos < 0) throw std::invalid_argument("--bos: the tokenizer (" + codec.kind + ") has no BOS token");
    prompt.insert(prompt.begin(), codec.bos);
  }
  if (prompt.empty()) throw std::invalid_argument("--prompt: the tokenizer makes no tokens of the prompt");
  for (tern::token t : prompt)
    if (t < 0 || t >= c.vocab)
      throw std::runtime_error("the tokenizer (" + codec.kind + ") gives token " + std::to_string(t) +
                               ", outside the model's vocabulary of " + std::to_string(c.vocab));
  tern::infer::generate_options go;
  go.max_new_tokens = o.n;
  go.sampling = o.sampling;
  go.stop_token = codec.bytes ? o.stop_byte : codec.eos;
  // The continuation's text is decode(context + generated) minus decode(context), the context
  // being the prompt's last tokens: a token's text can depend on its neighbours (SentencePiece
  // drops the leading space of a first piece; a UTF-8 character can span byte tokens). New text
  // is printed once it extends what is printed and does not end in U+FFFD (a character still
  // unfinished). Ids the tokenizer has no text for (a model vocabulary padded beyond it) are
  // skipped and counted.
  const std::size_t n_ctx = std::min<std::size_t>(4, prompt.size());
  std::vector<tern::token> seq(prompt.end() - std::ptrdiff_t(n_ctx), prompt.end());
  const std::string base = codec.bytes ? std::string() : codec.decode(seq);
  std::string printed;
  tern::index unknown = 0;
  const tern::infer::generate_stats st = tern::infer::generate(
      s, prompt, go,
      [&](tern::token t) {
        if (codec.bytes) {
          std::fputc(t, stdout);
          std::fflush(stdout);
          return;
        }
        if (t >= codec.vocab) {
          ++unknown;
          return;
        }
        seq.push_back(t);
        std::string full;
        try {
          full = codec.decode(seq);
        } catch (const std::out_of_range&) {
          seq.pop_back();
          ++unknown;
          return;
        }
        const std::string text = full.compare(0, base.size(), base) == 0 ? full.substr(base.size()) : full;
        const bool unfinished = text.size() >= 3 && text.compare(text.size() - 3, 3, "\xEF\xBF\xBD") == 0;
        if (!unfinished && text.size() > printed.size() && text.compare(0, printed.size(), printed) == 0) {
          std::fwrite(text.data() + printed.size(), 1, text.size() - printed.size(), stdout);
          printed = text;
          std::fflush(stdout);
        }
      },
      pool);
  if (unknown) std::cerr << "\nnote: " << unknown << " generated id(s) have no text in the tokenizer (skipped)";
  std::fflush(stdout);
  std::cerr << "\nprompt " << st.prompt_tokens << " tokens" << (st.prompt_tokens < tern::index(prompt.size()) ? " (truncated to the context)" : "")
            << ", generated " << st.new_tokens << (st.stopped ? " (stopped)" : "") << "; prefill " << st.prefill_tokens_per_s()
            << " tokens/s, decode " << st.decode_tokens_per_s() << " tokens/s";
  if (st.context_shifts) std::cerr << ", " << st.context_shifts << " context shift(s)";
  std::cerr << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::invalid_argument& e) {
    std::cerr << "tern_generate: " << e.what() << "\n" << usage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "tern_generate: " << e.what() << "\n";
    return 1;
  }
}
