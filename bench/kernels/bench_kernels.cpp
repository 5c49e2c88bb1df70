// Ternary kernel benchmarks with their baselines in the same binary and run.
//
// Names: <op>/<format>/<path>/<shape>/threads:<T>
//   op      gemv (N = 1, weights hot in cache), gemv_dram (N = 1, cycling through >= 1 GiB of
//           distinct weight matrices so every call streams from DRAM), gemm (N > 1)
//   format  tq2 (tern 2-bit), tq1 (tern base-3, 1.6 bpw), f32 (Eigen baseline), i8 (straightforward int8 x int8 baseline),
//           u8 (read: the bytes of the tq2 matrix only, the roofline baselines; op read or read_dram)
//   path    every path of tern::kernels::all_paths this CPU runs but the reference (amx: GEMM
//           only), eigen, naive, stream; with --tern_variants also <path>.<tuning> rows: the same
//           kernels with a given CPU tuning (kernels/tuning.hpp), for A/B runs in one binary
//   shape   MxK (GEMV) or MxKxN (GEMM)
// Counters: gflops = 2 M N K / s (in 1e9), weight_gbps = weight bytes read / s (in 1e9), both
// over the whole run; gflops_best / weight_gbps_best from the fastest single call.
// Activations are quantized once outside the timed loop (kernel time only).
// Threads: tern kernels and the i8 baseline use a tern::kernels::thread_pool of T threads; Eigen
// uses OpenMP with T threads (Eigen's GEMV is single-threaded whatever T is).
#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "tern/kernels/gemm.hpp"
#include "tern/kernels/packed_ternary_base3.hpp"

namespace tk = tern::kernels;
using tern::matrix;
using Index = tern::index;

namespace {

constexpr Index M = 4096, K = 4096;

matrix<std::int8_t> random_codes(Index m, Index k, int lo, int hi, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(lo, hi);
  matrix<std::int8_t> c(m, k);
  for (Index i = 0; i < c.size(); ++i) c.data()[i] = static_cast<std::int8_t>(d(rng));
  return c;
}

template <class W>
const W& weights() {
  static const W w(random_codes(M, K, -1, 1, 1), matrix<float>::Constant(1, 1, 0.02f), 0);
  return w;
}

/// >= 1 GiB of distinct packed matrices (copies of one: the bytes are what is streamed).
/// Built on first use only (the dram benchmarks), freed never (one per format).
template <class W>
const std::vector<W>& dram_weights() {
  static const std::vector<W> ws = [] {
    const std::size_t count = ((std::size_t(1) << 30) + weights<W>().bytes() - 1) / weights<W>().bytes();
    return std::vector<W>(count, weights<W>());
  }();
  return ws;
}

const matrix<float>& act_f32(Index n) {
  static std::vector<std::unique_ptr<matrix<float>>> cache;
  for (auto& p : cache)
    if (p->rows() == n) return *p;
  std::mt19937 rng(static_cast<unsigned>(n));
  std::normal_distribution<float> d(0.0f, 1.0f);
  auto x = std::make_unique<matrix<float>>(n, K);
  for (Index i = 0; i < x->size(); ++i) x->data()[i] = d(rng);
  cache.push_back(std::move(x));
  return *cache.back();
}

tk::thread_pool& pool(int threads) {
  static tk::thread_pool p1(1), p2(2);
  return threads == 1 ? p1 : p2;
}

/// Wall time of the fastest call seen by time_call (per benchmark run).
struct best_time {
  double seconds = 1e30;
  template <class F>
  void time_call(F&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    seconds = std::min(seconds, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
};

/// gflops / weight_gbps: mean over the run (Google Benchmark's real time). gflops_best /
/// weight_gbps_best: the fastest single call, which on a shared machine approximates the
/// unloaded rate (see docs/benchmarks.md).
void set_counters(benchmark::State& st, double m, double k, double n, double weight_bytes, const best_time& best) {
  st.counters["gflops"] = benchmark::Counter(2.0 * m * n * k * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["weight_gbps"] = benchmark::Counter(weight_bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["gflops_best"] = 2.0 * m * n * k * 1e-9 / best.seconds;
  st.counters["weight_gbps_best"] = weight_bytes * 1e-9 / best.seconds;
}

// ---- tern kernels ----

/// A path value (run-time dispatch, as an application calls it) or a tag (the A/B variants).
template <class W, class Path>
void bench_tern(benchmark::State& st, Path p, Index n, int threads) {
  const W& w = weights<W>();
  const tk::quantized_activations x = tk::quantize_activations(act_f32(n), w.layout());
  matrix<float> y(n, M);
  best_time best;
  for (auto _ : st) {
    best.time_call([&] { tk::gemm(w, x, y, p, pool(threads)); });
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(st, M, K, double(n), double(w.bytes()), best);
}

template <class W, class Path>
void bench_tern_dram(benchmark::State& st, Path p, int threads) {
  const auto& ws = dram_weights<W>();
  const tk::quantized_activations x = tk::quantize_activations(act_f32(1), ws[0].layout());
  matrix<float> y(1, M);
  std::size_t i = 0;
  best_time best;
  for (auto _ : st) {
    best.time_call([&] { tk::gemm(ws[i], x, y, p, pool(threads)); });
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
    if (++i == ws.size()) i = 0;
  }
  set_counters(st, M, K, 1.0, double(ws[0].bytes()), best);
}

// ---- baselines ----

void bench_eigen(benchmark::State& st, Index n, int threads) {
  static const matrix<float> w = random_codes(M, K, -1, 1, 1).cast<float>() * 0.02f;
  const matrix<float>& x = act_f32(n);
  Eigen::setNbThreads(threads);
  matrix<float> y(n, M);
  best_time best;
  for (auto _ : st) {
    best.time_call([&] {
      if (n == 1)
        y.row(0).noalias() = (w * x.row(0).transpose()).transpose();
      else
        y.noalias() = x * w.transpose();
    });
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(st, M, K, double(n), double(M * K * sizeof(float)), best);
}

/// y(n, i) = sum_j w(i, j) x(n, j), int8 x int8 -> int32, plain loops (what a compiler makes of
/// the obvious code with -O3 -march=native), rows split over the pool.
void bench_i8(benchmark::State& st, Index n, int threads) {
  static const matrix<std::int8_t> w = random_codes(M, K, -1, 1, 1);
  const matrix<std::int8_t> x = random_codes(n, K, -127, 127, 2);
  std::vector<std::int32_t> y(static_cast<std::size_t>(n * M));
  best_time best;
  for (auto _ : st) {
    best.time_call([&] { pool(threads).parallel_for(threads, [&](Index part) {
      for (Index i = M * part / threads; i < M * (part + 1) / threads; ++i) {
        const std::int8_t* wr = w.data() + i * K;
        for (Index t = 0; t < n; ++t) {
          const std::int8_t* xr = x.data() + t * K;
          std::int32_t acc = 0;
          for (Index j = 0; j < K; ++j) acc += std::int32_t(wr[j]) * std::int32_t(xr[j]);
          y[static_cast<std::size_t>(t * M + i)] = acc;
        }
      }
    }); });
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(st, M, K, double(n), double(M * K), best);
}

/// The roofline baselines: read the bytes of the tq2 matrix (hot: the same 4 MiB every call,
/// so the last-level cache's rate; dram: cycling through the same >= 1 GiB arena as gemv_dram)
/// with a plain vectorized sum split over the pool, as fast as the memory system delivers with
/// its hardware prefetchers. gflops = the rate a 2-bit GEMV would reach if it only had to read
/// its weights at this speed (the GEMV's roof); weight_gbps = bytes read / s.
void bench_read(benchmark::State& st, bool dram, int threads) {
  const auto& ws = dram_weights<tk::packed_ternary>();
  const tk::packed_ternary& hot = weights<tk::packed_ternary>();
  std::size_t i = 0;
  std::uint64_t sink[2] = {};
  best_time best;
  for (auto _ : st) {
    const tk::packed_ternary& w = dram ? ws[i] : hot;
    best.time_call([&] { pool(threads).parallel_for(threads, [&](Index part) {
      const auto* p = reinterpret_cast<const std::uint64_t*>(w.row(0));
      const std::size_t n = w.bytes() / 8, b = n * std::size_t(part) / std::size_t(threads),
                        e = n * std::size_t(part + 1) / std::size_t(threads);
      std::uint64_t acc = 0;
      for (std::size_t j = b; j < e; ++j) acc += p[j];
      sink[part] += acc;
    }); });
    benchmark::DoNotOptimize(sink);
    benchmark::ClobberMemory();
    if (dram && ++i == ws.size()) i = 0;
  }
  set_counters(st, M, K, 1.0, double(hot.bytes()), best);
}

#if TERN_KERNELS_X86
/// 16 independent vpdpbusd chains on zmm registers, n times: the int8 multiply-add peak.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) void vpdpbusd_loop(long n) {
  for (long i = 0; i < n; ++i)
    asm volatile(
        "vpdpbusd %%zmm17, %%zmm16, %%zmm0\n vpdpbusd %%zmm17, %%zmm16, %%zmm1\n"
        "vpdpbusd %%zmm17, %%zmm16, %%zmm2\n vpdpbusd %%zmm17, %%zmm16, %%zmm3\n"
        "vpdpbusd %%zmm17, %%zmm16, %%zmm4\n vpdpbusd %%zmm17, %%zmm16, %%zmm5\n"
        "vpdpbusd %%zmm17, %%zmm16, %%zmm6\n vpdpbusd %%zmm17, %%zmm16, %%zmm7\n"
        "vpdpbusd %%zmm17, %%zmm16, %%zmm8\n vpdpbusd %%zmm17, %%zmm16, %%zmm9\n"
        "vpdpbusd %%zmm17, %%zmm16, %%zmm10\n vpdpbusd %%zmm17, %%zmm16, %%zmm11\n"
        "vpdpbusd %%zmm17, %%zmm16, %%zmm12\n vpdpbusd %%zmm17, %%zmm16, %%zmm13\n"
        "vpdpbusd %%zmm17, %%zmm16, %%zmm14\n vpdpbusd %%zmm17, %%zmm16, %%zmm15\n" ::
            : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
              "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17");
}

/// The machine's vpdpbusd peak in the same run (zmm, 16 independent accumulators per thread):
/// gflops counts 2 x 64 int8 multiply-adds per instruction, the GEMV / GEMM compute roof.
void bench_peak(benchmark::State& st, int threads) {
  constexpr long reps = 1 << 16;
  best_time best;
  for (auto _ : st)
    best.time_call([&] { pool(threads).parallel_for(threads, [&](Index) { vpdpbusd_loop(reps); }); });
  const double ops = 2.0 * 64 * 16 * double(reps) * threads;
  st.counters["gflops"] = benchmark::Counter(ops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["gflops_best"] = ops * 1e-9 / best.seconds;
}
#endif

std::string shape(Index n) {
  return n == 1 ? std::to_string(M) + "x" + std::to_string(K)
                : std::to_string(M) + "x" + std::to_string(K) + "x" + std::to_string(n);
}

/// The tern rows of one path (a path value) or variant (a tag), name `pn`: GEMV hot and from
/// DRAM, GEMM at each N; tq2 and tq1.
template <class Path>
void register_tern(const std::string& pn, Path p, int t, bool gemv) {
  const Index gemm_ns[] = {16, 64, 512};
  const std::string th = "/threads:" + std::to_string(t);
  const auto add = [&]<class W>(const std::string& fmt) {
    if (gemv) {
      benchmark::RegisterBenchmark(("gemv/" + fmt + "/" + pn + "/" + shape(1) + th).c_str(),
                                   [p, t](benchmark::State& s) { bench_tern<W>(s, p, 1, t); })->UseRealTime();
      benchmark::RegisterBenchmark(("gemv_dram/" + fmt + "/" + pn + "/" + shape(1) + th).c_str(),
                                   [p, t](benchmark::State& s) { bench_tern_dram<W>(s, p, t); })->UseRealTime();
    }
    for (Index n : gemm_ns)
      benchmark::RegisterBenchmark(("gemm/" + fmt + "/" + pn + "/" + shape(n) + th).c_str(),
                                   [p, t, n](benchmark::State& s) { bench_tern<W>(s, p, n, t); })->UseRealTime();
  };
  add.template operator()<tk::packed_ternary>("tq2");
  add.template operator()<tk::packed_ternary_base3>("tq1");  // every path has tq1 kernels
}

/// A/B variants (--tern_variants): tunings of the avx512vnni path, whatever this CPU would pick.
/// Experiment tunings below change one choice of tuning_zen4 each (docs/kernels.md has the runs).
struct zen4_pass2 : tk::tuning_zen4 {
  static constexpr std::string_view name = "zen4-pass2";
  static constexpr int vnni_gemv_pass_rows = 2;
};
struct zen4_nopin : tk::tuning_zen4 {
  static constexpr std::string_view name = "zen4-nopin";
  static constexpr bool pin_weight_loads = false;
};
struct zen4_near_only : tk::tuning_zen4 {
  static constexpr std::string_view name = "zen4-near";
  static constexpr tern::index prefetch_far_blocks = 0;
};
struct zen4_far_only : tk::tuning_zen4 {
  static constexpr std::string_view name = "zen4-far";
  static constexpr tern::index prefetch_near_blocks = 0;
};

struct zen4_per_row : tk::tuning_zen4 {
  static constexpr std::string_view name = "zen4-perrow";
  static constexpr bool prefetch_linear = false;
};
struct zen4_tile_3x8 : tk::tuning_zen4 {
  static constexpr std::string_view name = "zen4-3x8";
  template <class Arch, class W>
  using shape = tk::tile_shape_of<Arch, W>;
};

template <class... T>
void register_variants(int t) {
  if (!tk::cpu_supports(tk::path::avx512vnni)) return;
  (register_tern("avx512vnni." + std::string(T::name), tk::tuned<tk::avx512vnni, T>{}, t, true), ...);
}

void register_all(bool variants) {
  const Index gemm_ns[] = {16, 64, 512};
  for (int t : {1, 2}) {
    const std::string th = "/threads:" + std::to_string(t);
    // Every path of this platform the CPU runs (the reference is the specification, not timed).
    for (tk::path p : tk::all_paths) {
      if (p == tk::path::reference || !tk::cpu_supports(p)) continue;
      register_tern(std::string(tk::path_name(p)), p, t, /*gemv=*/p != tk::path::amx);  // AMX: GEMM only
    }
    if (variants) register_variants<tk::tuning_default, tk::tuning_zen4, zen4_pass2, zen4_nopin, zen4_near_only, zen4_far_only,
                                         zen4_tile_3x8, zen4_per_row>(t);
#if TERN_KERNELS_X86
    if (tk::cpu_supports(tk::path::avx512vnni))
      benchmark::RegisterBenchmark(("peak/i8/vpdpbusd/zmm" + th).c_str(), [t](benchmark::State& s) { bench_peak(s, t); })
          ->UseRealTime();
#endif
    benchmark::RegisterBenchmark(("read/u8/stream/" + shape(1) + th).c_str(),
                                 [t](benchmark::State& s) { bench_read(s, false, t); })->UseRealTime();
    benchmark::RegisterBenchmark(("read_dram/u8/stream/" + shape(1) + th).c_str(),
                                 [t](benchmark::State& s) { bench_read(s, true, t); })->UseRealTime();
    benchmark::RegisterBenchmark(("gemv/f32/eigen/" + shape(1) + th).c_str(),
                                 [t](benchmark::State& s) { bench_eigen(s, 1, t); })->UseRealTime();
    benchmark::RegisterBenchmark(("gemv/i8/naive/" + shape(1) + th).c_str(),
                                 [t](benchmark::State& s) { bench_i8(s, 1, t); })->UseRealTime();
    for (Index n : gemm_ns) {
      benchmark::RegisterBenchmark(("gemm/f32/eigen/" + shape(n) + th).c_str(),
                                   [t, n](benchmark::State& s) { bench_eigen(s, n, t); })->UseRealTime();
      benchmark::RegisterBenchmark(("gemm/i8/naive/" + shape(n) + th).c_str(),
                                   [t, n](benchmark::State& s) { bench_i8(s, n, t); })->UseRealTime();
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  // This program's own flag, taken out before Google Benchmark parses the rest.
  bool variants = false;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--tern_variants") {
      variants = true;
      continue;
    }
    if (a == "--help" || a == "-h")
      std::printf("bench_kernels: tern's ternary kernels and their baselines (docs/benchmarks.md).\n"
                  "  --tern_variants   also time the avx512vnni kernels under each CPU tuning\n"
                  "                    (rows gemv/.../avx512vnni.<tuning>/..., for A/B runs)\n"
                  "Google Benchmark's flags follow.\n\n");
    argv[kept++] = argv[i];
  }
  argc = kept;
  register_all(variants);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
