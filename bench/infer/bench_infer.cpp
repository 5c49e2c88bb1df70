// Inference benchmarks: decode and prefill tokens/s of frozen models, ternary against the same
// architecture in FP32 through Eigen, with the DRAM read roof measured in the same run.
//
// Names:
//   read_dram/u8/threads:<T>                  a plain sum over a 1 GiB arena: the bandwidth roof
//   decode/<model>/<weights>/threads:<T>      one token at position 128 (128 cached), per iteration
//   prefill/<model>/<weights>/threads:<T>     a 128-token prompt from an empty cache, per iteration
//   model    demo (the demo's architecture: dim 96, 4 layers, 4 heads, SwiGLU 256, vocab 256) or
//            large (dim 2048, 16 layers, 16 heads, 4 KV heads, SwiGLU 5632, vocab 32000: ~0.7 B
//            parameters, streams from DRAM)
//   weights  tq2, tq1 (ternary projections, 8-bit head), f32 (every weight FP32, Eigen);
//            tq2-head_f32 and tq2-head_bf16 (large only): tq2 with an FP32 / BF16 head
// The frozen models have the paper's structure: RMSNorm pre-norms with gains, an extra RMSNorm
// with a gain before every block projection (folded into the activation quantization for ternary
// weights, computed in float for FP32), no norm before the head. Weights are random (speed does
// not depend on their values; ternary codes uniform over {-1, 0, 1}).
// Counters: tokens_per_s; decode also bytes_per_token (every weight, scale and gain a step reads,
// the head, one embedding row and the KV cache) and roof_pct = tokens_per_s * bytes_per_token
// over the same-thread-count read_dram bandwidth of this run (it runs first).
// Threads: a tern::kernels::thread_pool of T threads for the kernels and attention; Eigen's GEMM
// (the FP32 prefill) uses T OpenMP threads.
#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "tern/infer/inference_model.hpp"
#include "tern/infer/session.hpp"
#include "tern/kernels/packed_bf16.hpp"
#include "tern/kernels/packed_int8.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ti = tern::infer;
namespace tk = tern::kernels;
using Index = tern::index;
using tern::matrix;

namespace {

constexpr Index prompt_len = 128;

tern::transformer_config model_config(const std::string& name) {
  tern::transformer_config c;
  if (name == "large") {
    c.vocab = 32000;
    c.dim = 2048;
    c.n_layers = 16;
    c.n_heads = 16;
    c.n_kv_heads = 4;
    c.ffn_hidden = 5632;
  } else {
    c.vocab = 256;
    c.dim = 96;
    c.n_layers = 4;
    c.n_heads = 4;
    c.n_kv_heads = 4;
    c.ffn_hidden = 256;
  }
  c.max_seq = 2 * prompt_len;
  return c;
}

/// xorshift64*: fast fill of large random tensors (the values do not matter for speed).
struct fill_rng {
  std::uint64_t s;
  std::uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 2685821657736338717ULL;
  }
  float uniform(float lo, float hi) { return lo + (hi - lo) * float(next() >> 40) * 0x1p-24f; }
};

std::shared_ptr<std::uint8_t> aligned(std::size_t n) {
  return std::shared_ptr<std::uint8_t>(static_cast<std::uint8_t*>(::operator new(n, std::align_val_t{64})),
                                       [](std::uint8_t* p) { ::operator delete(p, std::align_val_t{64}); });
}

/// rows x cols FP32 in dense_f32's padded layout, values uniform in [-a, a].
ti::dense_f32 random_f32(Index rows, Index cols, float a, fill_rng& r) {
  const std::size_t bytes = tk::detail::dense_rows<float>::bytes_for(rows, cols);
  auto buf = aligned(bytes);
  std::memset(buf.get(), 0, bytes);
  const Index padded = Index(bytes / sizeof(float)) / rows;
  float* p = reinterpret_cast<float*>(buf.get());
  for (Index i = 0; i < rows; ++i)
    for (Index j = 0; j < cols; ++j) p[i * padded + j] = r.uniform(-a, a);
  return ti::dense_f32::from_bytes(buf, rows, cols);
}

ti::frozen_linear::weights random_weights(ti::weight_format f, Index out, Index in, fill_rng& r) {
  const matrix<float> scale = matrix<float>::Constant(1, 1, 0.02f);
  if (f == ti::weight_format::tq2) {
    const tk::k_layout l = tk::k_layout::make(in, 0, tk::packed_ternary::block_weights);
    const std::size_t bytes = std::size_t(out * l.row_bytes());
    auto buf = aligned(bytes);
    for (std::size_t b = 0; b < bytes; ++b) {  // four 2-bit codes, each uniform in {0, 1, 2}
      std::uint8_t v = 0;
      for (int s = 0; s < 4; ++s) v = std::uint8_t(v | ((r.next() >> 33) % 3) << (2 * s));
      buf.get()[b] = v;
    }
    return tk::packed_ternary::from_bytes(buf, out, in, 0, scale);
  }
  if (f == ti::weight_format::tq1) {
    const tk::k_layout l = tk::k_layout::make(in, 0, tk::packed_ternary_base3::block_weights);
    const std::size_t bytes = std::size_t(out * l.row_bytes());
    auto buf = aligned(bytes);
    for (std::size_t b = 0; b < bytes; ++b) {  // five trits uniform in {0, 1, 2}, TQ1_0's byte code
      int c[5];
      for (int& t : c) t = int((r.next() >> 33) % 3);
      buf.get()[b] = tk::packed_ternary_base3::encode(c);
    }
    return tk::packed_ternary_base3::from_bytes(buf, out, in, 0, scale);
  }
  const ti::dense_f32 w = random_f32(out, in, 0.05f, r);
  if (f == ti::weight_format::f32) return w;
  const matrix<float> m = w.view();
  if (f == ti::weight_format::bf16) return tk::packed_bf16(m);
  return tk::packed_int8(m);
}

ti::frozen_norm gain_norm(Index features, fill_rng& r) {
  std::vector<float> g(static_cast<std::size_t>(features));
  for (float& v : g) v = r.uniform(0.5f, 1.5f);
  return ti::frozen_norm(ti::norm_kind::rms_gain, features, std::move(g));
}

/// A random frozen model: `proj` for every block projection, `head` for the LM head.
ti::inference_model random_model(const tern::transformer_config& c, ti::weight_format proj, ti::weight_format head) {
  fill_rng r{0x9e3779b97f4a7c15ULL};
  const Index d = c.dim / c.n_heads, qd = c.n_heads * d, kvd = c.n_kv_heads * d;
  const auto lin = [&](Index out, Index in) { return ti::frozen_linear(random_weights(proj, out, in, r), gain_norm(in, r)); };
  std::vector<ti::frozen_block> layers;
  for (Index l = 0; l < c.n_layers; ++l) {
    ti::frozen_block b;
    b.attn_norm = gain_norm(c.dim, r);
    b.q = lin(qd, c.dim);
    b.k = lin(kvd, c.dim);
    b.v = lin(kvd, c.dim);
    b.o = lin(c.dim, qd);
    b.mlp_norm = gain_norm(c.dim, r);
    b.gate = lin(c.ffn_hidden, c.dim);
    b.up = lin(c.ffn_hidden, c.dim);
    b.down = lin(c.dim, c.ffn_hidden);
    layers.push_back(std::move(b));
  }
  ti::frozen_linear h(random_weights(head, c.vocab, c.dim, r), ti::frozen_norm(ti::norm_kind::none, c.dim));
  return ti::inference_model(c, "extra_norm", random_f32(c.vocab, c.dim, 1.0f, r), std::move(layers), gain_norm(c.dim, r),
                             std::move(h));
}

struct variant {
  ti::weight_format proj, head;
};
const std::map<std::string, variant> variants = {
    {"tq2", {ti::weight_format::tq2, ti::weight_format::i8}},
    {"tq1", {ti::weight_format::tq1, ti::weight_format::i8}},
    {"f32", {ti::weight_format::f32, ti::weight_format::f32}},
    {"tq2-head_f32", {ti::weight_format::tq2, ti::weight_format::f32}},
    {"tq2-head_bf16", {ti::weight_format::tq2, ti::weight_format::bf16}},
};

/// One model at a time is kept (the large FP32 one is 3.4 GB): built on first use.
const ti::inference_model& model(const std::string& name, const std::string& weights) {
  static std::string key;
  static std::unique_ptr<ti::inference_model> m;
  if (key != name + "/" + weights) {
    m.reset();
    const variant v = variants.at(weights);
    m = std::make_unique<ti::inference_model>(random_model(model_config(name), v.proj, v.head));
    key = name + "/" + weights;
  }
  return *m;
}

tk::thread_pool& pool(int threads) {
  static tk::thread_pool p1(1), p2(2);
  return threads == 1 ? p1 : p2;
}

void set_threads(int threads) {
#ifdef _OPENMP
  omp_set_num_threads(threads);
#endif
  Eigen::setNbThreads(threads);
}

std::vector<tern::token> prompt_tokens(Index vocab) {
  std::vector<tern::token> t(static_cast<std::size_t>(prompt_len));
  for (Index i = 0; i < prompt_len; ++i) t[std::size_t(i)] = tern::token((i * 7919) % vocab);
  return t;
}

double read_bandwidth[3] = {0, 0, 0};  // bytes/s of read_dram by thread count, this run

void bench_read_dram(benchmark::State& st, int threads) {
  static const std::size_t bytes = std::size_t(1) << 30;
  static const std::shared_ptr<std::uint8_t> arena = [] {
    auto a = aligned(bytes);
    std::memset(a.get(), 1, bytes);
    return a;
  }();
  std::uint64_t sink[2] = {};
  for (auto _ : st) {
    pool(threads).parallel_for(threads, [&](Index part) {
      const auto* p = reinterpret_cast<const std::uint64_t*>(arena.get());
      const std::size_t n = bytes / 8, b = n * std::size_t(part) / std::size_t(threads), e = n * std::size_t(part + 1) / std::size_t(threads);
      std::uint64_t acc = 0;
      for (std::size_t j = b; j < e; ++j) acc += p[j];
      sink[part] += acc;
    });
    benchmark::DoNotOptimize(sink);
    benchmark::ClobberMemory();
  }
  st.counters["gbps"] = benchmark::Counter(double(st.iterations()) * double(bytes) * 1e-9, benchmark::Counter::kIsRate);
}

void bench_decode(benchmark::State& st, const std::string& name, const std::string& weights, int threads) {
  set_threads(threads);
  const ti::inference_model& m = model(name, weights);
  ti::session s(m);
  const std::vector<tern::token> prompt = prompt_tokens(m.config().vocab);
  s.forward(prompt, false, pool(threads));
  const tern::token next = 1;
  for (auto _ : st) {
    s.cache().truncate(prompt_len);
    benchmark::DoNotOptimize(s.forward(std::span<const tern::token>(&next, 1), false, pool(threads)).data());
  }
  const double bytes = double(m.decode_bytes(prompt_len));
  st.counters["tokens_per_s"] = benchmark::Counter(double(st.iterations()), benchmark::Counter::kIsRate);
  st.counters["bytes_per_token"] = bytes;
  if (read_bandwidth[threads] > 0)
    st.counters["roof_pct"] = benchmark::Counter(double(st.iterations()) * bytes * 100.0 / read_bandwidth[threads],
                                                 benchmark::Counter::kIsRate);
}

void bench_prefill(benchmark::State& st, const std::string& name, const std::string& weights, int threads) {
  set_threads(threads);
  const ti::inference_model& m = model(name, weights);
  ti::session s(m);
  const std::vector<tern::token> prompt = prompt_tokens(m.config().vocab);
  for (auto _ : st) {
    s.reset();
    benchmark::DoNotOptimize(s.forward(prompt, false, pool(threads)).data());
  }
  st.counters["tokens_per_s"] = benchmark::Counter(double(st.iterations()) * double(prompt_len), benchmark::Counter::kIsRate);
}

/// Records read_dram's rate (the mean over its repetitions) for the decode roofs; read_dram runs
/// before every decode benchmark.
class roof_reporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    double sum[3] = {0, 0, 0};
    int count[3] = {0, 0, 0};
    for (const Run& r : runs) {
      const std::string n = r.benchmark_name();  // read_dram/u8/threads:T[/min_time:...]/real_time
      const std::string prefix = "read_dram/u8/threads:";
      if (n.rfind(prefix, 0) != 0 || n.size() <= prefix.size() || r.run_type != Run::RT_Iteration) continue;
      const auto it = r.counters.find("gbps");
      const int t = n[prefix.size()] - '0';
      if (it != r.counters.end() && (t == 1 || t == 2)) {
        sum[t] += double(it->second) * 1e9;
        ++count[t];
      }
    }
    for (int t : {1, 2})
      if (count[t]) read_bandwidth[t] = sum[t] / count[t];
    ConsoleReporter::ReportRuns(runs);
  }
};

void register_all() {
  for (int t : {1, 2})
    benchmark::RegisterBenchmark(("read_dram/u8/threads:" + std::to_string(t)).c_str(),
                                 [t](benchmark::State& s) { bench_read_dram(s, t); })
        ->UseRealTime()
        ->MinTime(1.0);
  for (const char* name : {"demo", "large"})
    for (const char* w : {"tq2", "tq1", "f32", "tq2-head_f32", "tq2-head_bf16"}) {
      if (std::string(name) == "demo" && std::string(w).find("head") != std::string::npos) continue;
      for (int t : {1, 2}) {
        const std::string suffix = std::string(name) + "/" + w + "/threads:" + std::to_string(t);
        const std::string n = name, wn = w;
        benchmark::RegisterBenchmark(("decode/" + suffix).c_str(),
                                     [n, wn, t](benchmark::State& s) { bench_decode(s, n, wn, t); })
            ->UseRealTime();
        benchmark::RegisterBenchmark(("prefill/" + suffix).c_str(),
                                     [n, wn, t](benchmark::State& s) { bench_prefill(s, n, wn, t); })
            ->UseRealTime();
      }
    }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  roof_reporter display;
  benchmark::RunSpecifiedBenchmarks(&display);
  benchmark::Shutdown();
}
