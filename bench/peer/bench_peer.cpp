// tern's side of the peer benchmark (bench/peer/run.sh): the same GGUF file in tern and in
// llama.cpp.
//   bench_peer make OUT.gguf     writes the large random model of bench_infer as a llama GGUF
//                                (dim 2048, 16 layers, 16 heads, 4 KV heads, SwiGLU 5632,
//                                vocab 32000; TQ2_0 projections with one scale per tensor,
//                                F32 embedding and head; codes uniform over {-1, 0, 1})
//   bench_peer run FILE.gguf T   loads it (load_gguf) and prints one JSON line: prefill tokens/s
//                                (a 128-token prompt from an empty cache) and decode tokens/s
//                                (single tokens after it, positions 128..), on a thread pool of T
// Timings are the median of repetitions (prefill 5, decode 5 runs of 32 steps).
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "tern/infer/session.hpp"
#include "tern/io/gguf_model.hpp"
#include "tern/kernels/executor.hpp"

namespace ti = tern::infer;
namespace tk = tern::kernels;
using Index = tern::index;
using tern::matrix;

namespace {

std::uint64_t state = 0x9e3779b97f4a7c15ull;
std::uint64_t next() {  // xorshift64*
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545f4914f6cdd1dull;
}

ti::frozen_linear ternary(Index out, Index in) {
  matrix<std::int8_t> codes(out, in);
  for (Index i = 0; i < codes.size(); ++i) codes.data()[i] = std::int8_t(int(next() % 3) - 1);
  matrix<float> s(1, 1);
  s(0, 0) = 0.02f;
  return ti::frozen_linear(tk::packed_ternary(codes, s, 0), ti::frozen_norm(ti::norm_kind::none, in));
}

ti::dense_f32 dense(Index rows, Index cols, float scale) {
  matrix<float> w(rows, cols);
  for (Index i = 0; i < w.size(); ++i) w.data()[i] = scale * (float(next() >> 40) / float(1 << 24) - 0.5f);
  return ti::dense_f32(w);
}

int make(const std::string& out) {
  tern::transformer_config c;
  c.vocab = 32000;
  c.dim = 2048;
  c.n_layers = 16;
  c.n_heads = 16;
  c.n_kv_heads = 4;
  c.ffn_hidden = 5632;
  c.max_seq = 4096;
  const Index kvd = c.n_kv_heads * (c.dim / c.n_heads);
  std::vector<float> ones(std::size_t(c.dim), 1.0f);
  std::vector<ti::frozen_block> layers;
  for (Index l = 0; l < c.n_layers; ++l)
    layers.push_back({ti::frozen_norm(ti::norm_kind::rms_gain, c.dim, ones), ternary(c.dim, c.dim), ternary(kvd, c.dim),
                      ternary(kvd, c.dim), ternary(c.dim, c.dim), ti::frozen_norm(ti::norm_kind::rms_gain, c.dim, ones),
                      ternary(c.ffn_hidden, c.dim), ternary(c.ffn_hidden, c.dim), ternary(c.dim, c.ffn_hidden)});
  ti::inference_model m(c, "peer-large", dense(c.vocab, c.dim, 0.1f), std::move(layers),
                        ti::frozen_norm(ti::norm_kind::rms_gain, c.dim, ones),
                        ti::frozen_linear(dense(c.vocab, c.dim, 0.05f), ti::frozen_norm(ti::norm_kind::none, c.dim)));
  tern::gguf_export_options o;
  o.name = "tern peer benchmark (random large)";
  tern::save_gguf(out, m, o);
  std::cerr << "wrote " << out << "\n";
  return 0;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int run(const std::string& file, int threads) {
  const ti::inference_model m = tern::load_gguf(file);
  tk::thread_pool pool(threads);
  std::vector<tern::token> prompt(128);
  for (auto& t : prompt) t = tern::token(next() % std::uint64_t(std::min<Index>(256, m.config().vocab)));
  using clock = std::chrono::steady_clock;
  std::vector<double> pre, dec;
  for (int r = 0; r < 6; ++r) {
    ti::session s(m, tk::detect_path(), std::min<Index>(512, m.config().max_seq));
    const auto t0 = clock::now();
    s.forward(prompt, false, pool);
    const double sec = std::chrono::duration<double>(clock::now() - t0).count();
    if (r > 0) pre.push_back(double(prompt.size()) / sec);  // the first run warms the caches and pages
  }
  for (int r = 0; r < 5; ++r) {
    ti::session s(m, tk::detect_path(), std::min<Index>(512, m.config().max_seq));
    s.forward(prompt, false, pool);
    tern::token t = 1;
    const auto t0 = clock::now();
    for (int i = 0; i < 32; ++i) {
      const matrix<float>& lg = s.forward(std::span<const tern::token>(&t, 1), false, pool);
      Index best = 0;
      lg.row(0).maxCoeff(&best);
      t = tern::token(best);
    }
    dec.push_back(32.0 / std::chrono::duration<double>(clock::now() - t0).count());
  }
  std::printf("{\"runtime\": \"tern\", \"threads\": %d, \"path\": \"%s\", \"prefill_tokens_per_s\": %.2f, \"decode_tokens_per_s\": %.2f}\n",
              threads, std::string(tk::path_name(tk::detect_path())).c_str(), median(pre), median(dec));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const char* usage = "usage: bench_peer make OUT.gguf | bench_peer run FILE.gguf THREADS (1..1024)\n";
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "--help" || mode == "-h") {
      std::cout << usage;
      return 0;
    }
    if (mode == "make" && argc == 3) return make(argv[2]);
    if (mode == "run" && argc == 4) {
      const std::string_view text(argv[3]);
      int threads = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), threads);
      if (ec != std::errc() || end != text.data() + text.size() || threads < 1 || threads > 1024) {
        std::cerr << "bench_peer: THREADS must be an integer in 1..1024, got '" << text << "'\n" << usage;
        return 2;
      }
      return run(argv[2], threads);
    }
    std::cerr << usage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "bench_peer: " << e.what() << "\n";
    return 1;
  }
}
