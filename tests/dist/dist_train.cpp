// dist_train: a tiny data-parallel training run for the MPI tests (tests/dist/dist_cases.cmake),
// run under `mpirun -np R`. Every rank draws the same global batch from the shared data rng,
// trains on its shard (dist::shard_batch), and the gradients are averaged (dist::gradient_averager).
//
//   --steps N            train until step N (default 8)
//   --batch B            global batch in windows of --seq tokens (default 4; seq 16)
//   --policy fp|paper    FP transformer, or extra norm + layer-wise lambda ramp (default paper)
//   --save FILE          rank 0 writes the final checkpoint (weights, AdamW, train state)
//   --save-at K --ckpt FILE   also a checkpoint at step K (the run goes on to --steps)
//   --resume FILE        start from a checkpoint (read by rank 0, sent to every rank)
//   --compare FILE --tolerance X
//                        after training, compare the weights with FILE's (a run with another
//                        rank count): fails if ||w - w_file|| / ||w - w_init|| > X
//   --fail-rank R --fail-at T   rank R throws at step T (the failing-rank test)
//   --corpus FILE        a byte corpus instead of the built-in Markov source
// Exit 0 on success; every rank checks that the replicas are identical at the end.
#include <Eigen/Core>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tern/tern.hpp"
#include "tern/dist/environment.hpp"
#include "tern/dist/gradient_averager.hpp"
#include "tern/dist/root_checkpoint.hpp"
#include "tern/dist/shard_batch.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

using model_t = tern::transformer<float, tern::extra_norm_policy>;
const char* tag = "dist_train transformer<float, extra_norm_policy> dim 16 layers 2";

struct options {
  std::int64_t steps = 8, save_at = -1, fail_at = -1;
  tern::index batch = 4, seq = 16;
  std::string policy = "paper", save, ckpt, resume, compare, corpus;
  double tolerance = -1;
  int fail_rank = -1;
};

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) throw std::invalid_argument("option " + a + " needs a value");
    const std::string v = argv[++i];
    if (a == "--steps") o.steps = std::stoll(v);
    else if (a == "--batch") o.batch = std::stoll(v);
    else if (a == "--policy") o.policy = v;
    else if (a == "--save") o.save = v;
    else if (a == "--save-at") o.save_at = std::stoll(v);
    else if (a == "--ckpt") o.ckpt = v;
    else if (a == "--resume") o.resume = v;
    else if (a == "--compare") o.compare = v;
    else if (a == "--tolerance") o.tolerance = std::stod(v);
    else if (a == "--fail-rank") o.fail_rank = std::stoi(v);
    else if (a == "--fail-at") o.fail_at = std::stoll(v);
    else if (a == "--corpus") o.corpus = v;
    else throw std::invalid_argument("unknown option " + a);
  }
  if (o.policy != "fp" && o.policy != "paper") throw std::invalid_argument("--policy must be fp or paper");
  if (!o.compare.empty() && !(o.tolerance >= 0)) throw std::invalid_argument("--compare needs --tolerance");
  return o;
}

/// sqrt(sum (a - b)^2) over every parameter.
double distance(model_t& a, model_t& b) {
  std::vector<const tern::matrix<float>*> bv;
  b.for_each_parameter([&](std::string_view, tern::parameter<float>& p) { bv.push_back(&p.value); });
  double s = 0;
  std::size_t i = 0;
  a.for_each_parameter([&](std::string_view, tern::parameter<float>& p) {
    s += (p.value - *bv[i++]).cast<double>().squaredNorm();
  });
  return std::sqrt(s);
}
double max_abs_difference(model_t& a, model_t& b) {
  std::vector<const tern::matrix<float>*> bv;
  b.for_each_parameter([&](std::string_view, tern::parameter<float>& p) { bv.push_back(&p.value); });
  double m = 0;
  std::size_t i = 0;
  a.for_each_parameter([&](std::string_view, tern::parameter<float>& p) {
    m = std::max(m, double((p.value - *bv[i++]).cwiseAbs().maxCoeff()));
  });
  return m;
}

int run(const options& o, const tern::dist::communicator& comm) {
#ifdef _OPENMP
  omp_set_num_threads(1);
#endif
  Eigen::setNbThreads(1);
  std::optional<tern::byte_corpus> corpus;
  if (o.corpus.empty())
    corpus.emplace(tern::markov_source().generate(1 << 14, 7), "markov", 0.1, o.seq + 1);
  else
    corpus.emplace(tern::byte_corpus::from_file(o.corpus, 0.1, o.seq + 1));

  tern::transformer_config cfg;
  cfg.dim = 16, cfg.n_layers = 2, cfg.n_heads = 2, cfg.n_kv_heads = 2, cfg.ffn_hidden = 32, cfg.max_seq = o.seq;
  model_t model(cfg, /*seed=*/3);
  model_t initial(cfg, 3);
  const tern::layer_wise<> schedule(tern::linear_warmup(4), int(cfg.n_layers), 0, 2);
  tern::cross_entropy<float> ce;
  tern::adamw<float> opt({.lr = 3e-3, .weight_decay = 0.01});
  tern::lr_schedule lr(3e-3, 2, /*total=*/16, 3e-4);  // fixed: a run stopped early is a prefix of a longer one
  tern::train_state st;
  tern::rng data_rng(11);
  tern::dist::gradient_averager<float> avg(comm, /*bucket_bytes=*/4096);  // several buckets at this size

  if (!o.resume.empty()) {
    tern::dist::load_checkpoint_from_root(comm, o.resume, model, tag, &opt, &st);
    data_rng.set_state(st.rng_state);
  }
  const auto step = [&](std::int64_t t) {
    if (t == o.fail_at && comm.rank() == o.fail_rank)
      throw std::runtime_error("injected failure on rank " + std::to_string(comm.rank()) + " at step " + std::to_string(t));
    if (o.policy == "paper") model.set_lambda(schedule, t);
    const tern::token_batch global = corpus->sample_train(o.batch, o.seq, data_rng);
    const tern::token_batch mine = tern::dist::shard_batch(global, comm.rank(), comm.size());
    const double loss = tern::lm_step(model, mine, ce);
    return avg.average(model, loss, std::int64_t(mine.inputs.size()));
  };
  tern::trainer_options to{.end_step = o.steps, .tokens_per_step = o.batch * o.seq, .clip = 1.0,
                           .log_every = 4, .label = "dist_train", .log = comm.is_root() ? &std::cerr : nullptr};
  if (o.save_at > st.step && o.save_at < o.steps) {
    to.end_step = o.save_at;
    tern::train(model, opt, lr, st, step, to);
    st.rng_state = data_rng.state();
    tern::dist::save_checkpoint_on_root(comm, o.ckpt, model, tag, &opt, &st);
    to.end_step = o.steps;
  }
  const tern::train_report rep = tern::train(model, opt, lr, st, step, to);
  st.rng_state = data_rng.state();
  if (!o.save.empty()) tern::dist::save_checkpoint_on_root(comm, o.save, model, tag, &opt, &st);

  const bool same = avg.replicas_identical(model);
  if (comm.is_root())
    std::printf("dist_train: %d rank(s), step %lld, loss %.6f, replicas %s, %lld allreduce calls (%zu buckets per step)\n",
                comm.size(), static_cast<long long>(st.step), rep.last_loss, same ? "identical" : "DIFFER",
                static_cast<long long>(avg.allreduce_calls()), avg.buckets());
  if (!same) return 1;
  if (!o.compare.empty() && comm.is_root()) {
    model_t other(cfg, 3);
    tern::load_checkpoint(o.compare, other, tag);
    const double d = distance(model, other), moved = distance(model, initial);
    const double rel = moved > 0 ? d / moved : d;
    std::printf("dist_train: against %s: max |dw| = %.3g, ||dw|| = %.3g, ||w - w_init|| = %.3g, ratio %.3g (tolerance %.3g)\n",
                o.compare.c_str(), max_abs_difference(model, other), d, moved, rel, o.tolerance);
    if (!(rel <= o.tolerance)) return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  tern::dist::environment env(argc, argv);
  const tern::dist::communicator comm = env.world();
  try {
    const int rc = run(parse(argc, argv), comm);
    // The comparison runs on rank 0 only; every rank exits with its verdict.
    std::int64_t bad = rc != 0;
    comm.allreduce_sum(std::span<std::int64_t>(&bad, 1));
    return bad ? 1 : 0;
  } catch (const std::exception& e) {
    std::cerr << "dist_train: rank " << comm.rank() << " of " << comm.size() << ": " << e.what() << std::endl;
    return env.stop_all(1);
  }
}
