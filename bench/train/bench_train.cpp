// Training speed of the byte-level transformer: one step = forward, cross-entropy, backward,
// global-norm clipping and AdamW. Reported per policy as tokens/s and achieved GFLOP/s, and
// at the end the ratio of the fake-quantized step to the FP step, both measured in this run
// (target: <= 1.15).
//
// FLOP model (counted once, per token, forward; a training step is 3x forward):
//   projections and head: 2 * (weights of q, k, v, o, gate, up, down per layer + head)
//   attention scores and mixing: 2 * 2 * D * (S + 1) / 2 per layer (causal: average length)
// Norms, softmax, RoPE, quantizers and the optimizer are not counted (they are the overhead
// the ratio is meant to expose).
//
// Usage: bench_train [--benchmark_* flags]; TERN_BENCH_THREADS=n sets the thread count (default 1).
// On a shared machine: --benchmark_repetitions=7 --benchmark_enable_random_interleaving=true
// (the printed ratios are then of medians).
#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "tern/data/rng.hpp"
#include "tern/nn/cross_entropy.hpp"
#include "tern/nn/projection_policy.hpp"
#include "tern/nn/transformer.hpp"
#include "tern/optim/adamw.hpp"
#include "tern/optim/clip_grad_norm.hpp"
#include "tern/train/retain_heap.hpp"

namespace {

tern::transformer_config bench_config() {
  tern::transformer_config c;
  c.dim = 128;
  c.n_layers = 4;
  c.n_heads = 4;
  c.n_kv_heads = 4;
  c.ffn_hidden = 344;
  c.max_seq = 64;
  return c;
}
constexpr tern::index batch = 16, seq = 64;

double flops_per_step(const tern::transformer_config& c) {
  const double d = double(c.dim), f = double(c.ffn_hidden), kv = d * double(c.n_kv_heads) / double(c.n_heads);
  const double per_layer = 2 * (d * d + 2 * d * kv + d * d + 3 * d * f) + 2 * 2 * d * double(seq + 1) / 2;
  const double fwd = double(c.n_layers) * per_layer + 2 * d * double(c.vocab);
  return 3 * fwd * double(batch * seq);
}

std::map<std::string, std::vector<double>> seconds_per_step;  // one entry per repetition (fixed
                                                              // iteration count: no trial runs)

template <class Policy>
void bm_train_step(benchmark::State& state, const char* name) {
  const auto cfg = bench_config();
  tern::transformer<float, Policy> m(cfg, 1);
  m.set_lambda(1.0);
  tern::adamw<float> opt;
  tern::cross_entropy<float> ce;
  tern::rng r(3);
  std::vector<tern::token> in(std::size_t(batch * seq)), tg(in.size());
  for (auto& t : in) t = tern::token(r.below(256));
  for (auto& t : tg) t = tern::token(r.below(256));
  auto step = [&] {
    m.zero_grad();
    const tern::matrix<float> logits = m.forward(in, seq);
    benchmark::DoNotOptimize(ce.forward(logits, tg));
    m.backward(ce.backward());
    tern::clip_grad_norm(m, 1.0);
    opt.step(m, 1e-4);
  };
  step();  // warm-up: allocations, optimizer state
  double total = 0;
  std::int64_t n = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    total += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++n;
  }
  const double per = total / double(n);
  seconds_per_step[name].push_back(per);
  state.counters["tokens/s"] = double(batch * seq) / per;
  state.counters["GFLOP/s"] = flops_per_step(cfg) / per * 1e-9;
}

}  // namespace

void bm_fp(benchmark::State& s) { bm_train_step<tern::fp_policy>(s, "fp"); }
void bm_fake_quant(benchmark::State& s) { bm_train_step<tern::qat_policy>(s, "fake_quant"); }
void bm_fake_quant_extra_norm(benchmark::State& s) { bm_train_step<tern::extra_norm_policy>(s, "fake_quant_extra_norm"); }
BENCHMARK(bm_fp)->Unit(benchmark::kMillisecond)->Iterations(6);
BENCHMARK(bm_fake_quant)->Unit(benchmark::kMillisecond)->Iterations(6);
BENCHMARK(bm_fake_quant_extra_norm)->Unit(benchmark::kMillisecond)->Iterations(6);

int main(int argc, char** argv) {
  // TERN_BENCH_KEEP_HEAP=0 measures with glibc's default heap trimming (see train/retain_heap.hpp).
  const char* keep = std::getenv("TERN_BENCH_KEEP_HEAP");
  const bool retained = !(keep && std::string(keep) == "0") && tern::retain_heap();
  const char* env = std::getenv("TERN_BENCH_THREADS");
  int threads = 1;
  if (env) {
    const std::string_view v(env);
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), threads);
    if (ec != std::errc() || end != v.data() + v.size() || threads < 1 || threads > 1024) {
      std::fprintf(stderr, "bench_train: TERN_BENCH_THREADS='%s' is not an integer in [1, 1024]\n", env);
      return 2;
    }
  }
  // Eigen's GEMMs and tern's OpenMP loops (attention heads) both follow the thread count.
  Eigen::setNbThreads(threads > 0 ? threads : 1);
#ifdef _OPENMP
  omp_set_num_threads(Eigen::nbThreads());
#endif
  std::printf("bench_train: dim 128, 4 layers, batch %lld x seq %lld, %d thread(s), %.3f GFLOP per step, heap %s\n",
              static_cast<long long>(batch), static_cast<long long>(seq), Eigen::nbThreads(),
              flops_per_step(bench_config()) * 1e-9, retained ? "retained (tern::retain_heap)" : "glibc default");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  // Ratios of the medians over repetitions (run with --benchmark_repetitions=N and
  // --benchmark_enable_random_interleaving=true on a shared machine: drifts in machine load
  // then hit every policy alike).
  const auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t h = v.size() / 2;
    return v.size() % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
  };
  const auto fp = seconds_per_step.find("fp");
  if (fp != seconds_per_step.end())
    for (const auto& [name, s] : seconds_per_step)
      if (name != "fp")
        std::printf("ratio %s / fp step time (median of %zu): %.3f (target <= 1.15)\n", name.c_str(), s.size(),
                    median(s) / median(fp->second));
  return 0;
}
