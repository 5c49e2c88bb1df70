// Data-parallel training speed: the step of bench_train (dim 128, 4 layers, extra norm,
// fake-quantized at lambda 1; global batch 16 x 64 tokens) on R ranks of T threads each, and
// the gradient allreduce's share of it. Run under mpirun (bench/train/run_bench_dist.sh runs
// 1 rank x 2 threads and 2 ranks x 1 thread).
//
// One step, on every rank: zero gradients, forward + loss + backward on its shard of the global
// batch, [a barrier, timed: the wait for the slowest rank], gradient_averager::average (timed:
// packing and the bucketed MPI_Allreduce; allreduce_seconds is the part inside MPI), clipping,
// AdamW. Reported by rank 0 over --steps timed steps after --warmup steps:
//   global tokens/s, ms per step, ms in the allreduce and its share of the step, ms waiting.
//
// Usage: mpirun -np R bench_dist [--threads T] [--steps N] [--warmup N] [--bucket-mib M]
#include <Eigen/Core>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "tern/data/byte_corpus.hpp"
#include "tern/data/markov_source.hpp"
#include "tern/dist/environment.hpp"
#include "tern/dist/gradient_averager.hpp"
#include "tern/dist/shard_batch.hpp"
#include "tern/nn/cross_entropy.hpp"
#include "tern/nn/projection_policy.hpp"
#include "tern/nn/transformer.hpp"
#include "tern/optim/adamw.hpp"
#include "tern/optim/clip_grad_norm.hpp"
#include "tern/train/lm_step.hpp"
#include "tern/train/retain_heap.hpp"
#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

struct options {
  int threads = 1;
  int steps = 40, warmup = 5;
  double bucket_mib = 4;
};

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") throw std::invalid_argument("");
    if (i + 1 >= argc) throw std::invalid_argument("option " + a + " needs a value");
    const std::string v = argv[++i];
    if (a == "--threads") o.threads = std::stoi(v);
    else if (a == "--steps") o.steps = std::stoi(v);
    else if (a == "--warmup") o.warmup = std::stoi(v);
    else if (a == "--bucket-mib") o.bucket_mib = std::stod(v);
    else throw std::invalid_argument("unknown option " + a);
  }
  if (o.threads < 1 || o.threads > 1024 || o.steps < 1 || o.steps > 100000 || o.warmup < 0 || o.warmup > 100000 ||
      !(o.bucket_mib > 0 && o.bucket_mib <= 1024))
    throw std::invalid_argument("--threads in [1, 1024], --steps in [1, 1e5], --warmup in [0, 1e5], --bucket-mib in (0, 1024]");
  return o;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int run(const options& o, const tern::dist::communicator& comm) {
  tern::retain_heap();
#ifdef _OPENMP
  omp_set_num_threads(o.threads);
#endif
  Eigen::setNbThreads(o.threads);
  const tern::index batch = 16, seq = 64;
  tern::transformer_config c;
  c.dim = 128, c.n_layers = 4, c.n_heads = 4, c.n_kv_heads = 4, c.ffn_hidden = 344, c.max_seq = seq;
  tern::transformer<float, tern::extra_norm_policy> model(c, 1);
  model.set_lambda(1.0);
  const tern::byte_corpus corpus(tern::markov_source().generate(1 << 18, 1), "markov", 0.1, seq + 1);
  tern::rng data_rng(3);
  tern::cross_entropy<float> ce;
  tern::adamw<float> opt({.lr = 1e-3, .weight_decay = 0.01});
  tern::dist::gradient_averager<float> avg(comm, std::size_t(o.bucket_mib * double(1 << 20)));

  double wait = 0;
  const auto one_step = [&] {
    tern::zero_parameter_grads(model);
    const tern::token_batch b = tern::dist::shard_batch(corpus.sample_train(batch, seq, data_rng), comm.rank(), comm.size());
    const double loss = tern::lm_step(model, b, ce);
    const auto tw = std::chrono::steady_clock::now();
    comm.barrier();
    wait += seconds_since(tw);
    avg.average(model, loss, std::int64_t(b.inputs.size()));
    tern::clip_grad_norm(model, 1.0);
    opt.step(model, 1e-3);
  };
  for (int i = 0; i < o.warmup; ++i) one_step();
  avg.reset_timers();
  wait = 0;
  comm.barrier();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < o.steps; ++i) one_step();
  comm.barrier();
  const double secs = seconds_since(t0);
  if (!avg.replicas_identical(model)) throw std::runtime_error("bench_dist: the replicas differ");
  if (comm.is_root()) {
    const double step_ms = 1e3 * secs / o.steps;
    const double ar_ms = 1e3 * avg.allreduce_seconds() / o.steps, avg_ms = 1e3 * avg.seconds() / o.steps;
    std::printf("bench_dist: %d rank(s) x %d thread(s): %.1fk tokens/s, %.2f ms/step; averaging %.3f ms/step "
                "(%.1f%%; MPI_Allreduce %.3f ms, %.1f%%), %zu bucket(s) of <= %.3g MiB for %.2f MiB of gradients; "
                "waiting for the slowest rank %.3f ms/step (%.1f%%)\n",
                comm.size(), o.threads, double(batch * seq) * o.steps / secs / 1e3, step_ms, avg_ms,
                100 * avg_ms / step_ms, ar_ms, 100 * ar_ms / step_ms, avg.buckets(), o.bucket_mib,
                double(model.parameter_count()) * 4 / double(1 << 20), 1e3 * wait / o.steps,
                100 * 1e3 * wait / o.steps / step_ms);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  tern::dist::environment env(argc, argv);
  const tern::dist::communicator comm = env.world();
  options o;
  try {
    o = parse(argc, argv);
  } catch (const std::invalid_argument& e) {
    if (comm.is_root())
      std::fprintf(stderr, "%s%susage: mpirun -np R bench_dist [--threads T] [--steps N] [--warmup N] [--bucket-mib M]\n",
                   e.what(), *e.what() ? "\n" : "");
    return *e.what() ? 2 : 0;
  }
  try {
    return run(o, comm);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_dist: rank %d: %s\n", comm.rank(), e.what());
    return env.stop_all(1);
  }
}
