// tern_generate: load a tern model file, run a prompt through it and stream the sampled
// continuation. Only the generated text goes to stdout (byte by byte, as it comes); the
// statistics (prefill and decode tokens/s) go to stderr.
//
// Usage: tern_generate --model FILE --prompt TEXT [-n N] [--temperature T] [--top-k K]
//                      [--top-p P] [--seed S] [--threads N] [--path NAME] [--stop-byte B]
//                      [--no-mmap]
//        tern_generate --help
#include <Eigen/Core>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cli_number.hpp"
#include "tern/infer/generate.hpp"
#include "tern/infer/session.hpp"
#include "tern/io/model_file.hpp"
#include "tern/kernels/arch.hpp"
#include "tern/kernels/executor.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

const char* usage =
    "usage: tern_generate --model FILE --prompt TEXT [options]\n"
    "  --model FILE       a tern model file (.tern, from tern_demo --save-model or tern::save_model)\n"
    "  --prompt TEXT      the text to continue (byte-level models: its bytes are the tokens)\n"
    "  -n N               tokens to generate (default 128)\n"
    "  --temperature T    0 = greedy (default 0.8)\n"
    "  --top-k K          keep the K most probable tokens (default 0 = all)\n"
    "  --top-p P          keep the most probable tokens up to probability P (default 1 = all)\n"
    "  --seed S           sampling seed (default 0); the same seed gives the same text\n"
    "  --threads N        threads for the kernels (default: the machine's cores)\n"
    "  --path NAME        kernel path: ref, xsimd, avx2, avx512bw, avx512vnni, amx, neon, neon-dotprod\n"
    "                     (default: the best this CPU runs)\n"
    "  --stop-byte B      stop when byte B (0-255) is generated (it is not printed)\n"
    "  --no-mmap          read the file into memory instead of mapping it\n"
    "Writes the continuation (not the prompt) to stdout and statistics to stderr.\n";

struct options {
  std::string model, prompt;
  bool has_prompt = false;
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
    else throw std::invalid_argument("unknown option " + a + " (see --help)");
  }
  if (o.model.empty()) throw std::invalid_argument("--model FILE is required");
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

int run(const options& o) {
  const unsigned threads = o.threads > 0 ? unsigned(o.threads) : std::max(1u, std::thread::hardware_concurrency());
#ifdef _OPENMP
  omp_set_num_threads(int(threads));  // Eigen's GEMM (FP32 projections of a prefill)
#endif
  Eigen::setNbThreads(int(threads));
  const tern::kernels::path path = o.path.empty() ? tern::kernels::detect_path() : path_named(o.path);
  const tern::infer::inference_model model = tern::load_model(o.model, {.mmap = o.mmap});
  const tern::transformer_config& c = model.config();
  if (c.vocab != 256)
    throw std::runtime_error("'" + o.model + "' has a vocabulary of " + std::to_string(c.vocab) +
                             " tokens; tern_generate reads byte-level models (vocabulary 256)");
  std::cerr << "model: " << o.model << " (" << model.policy() << ", " << c.n_layers << " layers, dim " << c.dim << ", "
            << tern::infer::format_name(model.desc().attn_in.format) << " projections, "
            << tern::infer::format_name(model.desc().head.format) << " head, " << model.resident_bytes() << " bytes, "
            << model.bits_per_linear_weight() << " bits per linear weight); kernels: "
            << tern::kernels::path_name(path) << ", " << threads << " thread(s)\n";
  tern::kernels::thread_pool pool(threads);
  tern::infer::session s(model, path);
  std::vector<tern::token> prompt;
  for (unsigned char ch : o.prompt) prompt.push_back(ch);
  tern::infer::generate_options go;
  go.max_new_tokens = o.n;
  go.sampling = o.sampling;
  go.stop_token = o.stop_byte;
  const tern::infer::generate_stats st = tern::infer::generate(
      s, prompt, go,
      [](tern::token t) {
        std::fputc(t, stdout);
        std::fflush(stdout);
      },
      pool);
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
