// tern_demo: the main job. Train a full-precision (FP) byte-level transformer, turn it into
// ternary models five ways with the same token budget, and compare validation losses.
//
//   fp          the FP teacher, trained from scratch (or loaded with --load-fp)
//   ptq         (a) post-training quantization: the FP weights ternarized, no training
//   qat_abrupt  (b) quantization-aware fine-tuning, lambda = 1 from step 0, no extra norm
//   qat_norm    (c) the same with the extra RMSNorm on every projection input
//   paper       (d) extra RMSNorm + gradual layer-wise lambda schedule (Steinmetz et al. 2025)
//   kd          (e) knowledge distillation: KL to the FP teacher (temperature tau), lambda = 1,
//                   no extra norm
// and, only when --variants names them, ablations of (d): paper_plain (a gain-free extra norm)
// and paper_head (the LM head ternary too, behind its own extra norm); and fp_ft, the FP model
// fine-tuned on the same batches without quantization (the reference for learning rates).
//
// Then the deployment: the paper variant (and the best ternary variant, if another) is frozen to
// the packed ternary kernels (tern::infer::freeze), its validation loss recomputed by the frozen
// model on the kernels, saved as a tern model file (--save-model), reloaded from it (memory-
// mapped), and asked for a sample of text; decode and prefill tokens/s are measured.
//
// Prints progress lines on stderr, a table on stdout, then one JSON line starting with
// {"tern_demo": ...}. Same options (seed, threads) => same numbers, except the wall-clock
// "seconds" and "tokens_per_s" fields.
//
// Data parallel under `mpirun -np R` (when built with tern::mpi): every rank draws the same
// global batch of --batch windows and trains on its shard, the gradients are averaged over the
// ranks (tern/dist/), and the validation windows are split between the ranks too. Rank 0 alone
// prints, saves (--save-fp, the deployment) and measures the frozen model; --threads is per
// rank. A rank that fails ends every rank with its message.
//
// The variants fine-tune on data distinct from the pretraining data by default (the paper's
// regime): with the built-in corpus, a related built-in Markov source that shares half of its
// contexts' laws with the pretraining source; --ft-corpus FILE names a file instead,
// --ft-corpus same the pretraining corpus itself.
// With distinct data every model is evaluated on both: the pretraining corpus's held-out split
// (what the fine-tuning must not destroy) and the fine-tuning corpus's. With --split halves each
// validation split is cut in two: the first half scores choices (a learning rate, a variant:
// select_loss in the JSON), the second half is the reported validation. With --log-dir DIR every
// training run writes DIR/<variant>.csv, one row per step (examples/plot_curves.sh draws them).
//
// Usage: tern_demo [--corpus FILE] [--ft-corpus FILE|same] [--log-dir DIR] [--steps N] [--ft-steps N] [--dim D] [--layers L]
//                  [--heads H] [--seq S] [--batch B] [--seed N] [--threads N] [--quick] ...
//        tern_demo --help
#include <Eigen/Core>
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

#include "cli_number.hpp"
#include "tern/data/byte_corpus.hpp"
#include "tern/data/markov_source.hpp"
#include "tern/data/rng.hpp"
#include "tern/dist/environment.hpp"
#include "tern/dist/gradient_averager.hpp"
#include "tern/dist/root_checkpoint.hpp"
#include "tern/dist/shard_batch.hpp"
#include "tern/infer/freeze.hpp"
#include "tern/infer/generate.hpp"
#include "tern/infer/session.hpp"
#include "tern/io/checkpoint.hpp"
#include "tern/io/model_file.hpp"
#include "tern/io/safetensors.hpp"  // detail::json_escape
#include "tern/nn/cross_entropy.hpp"
#include "tern/nn/kd_loss.hpp"
#include "tern/nn/projection_policy.hpp"
#include "tern/nn/transformer.hpp"
#include "tern/optim/adamw.hpp"
#include "tern/optim/lr_schedule.hpp"
#include "tern/schedule/layer_wise.hpp"
#include "tern/schedule/exponential_warmup.hpp"
#include "tern/schedule/linear_warmup.hpp"
#include "tern/schedule/sigmoid_warmup.hpp"
#include "tern/train/lm_step.hpp"
#include "tern/train/retain_heap.hpp"
#include "tern/train/trainer.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

using tern::index;
using tern_cli::check_above;
using tern_cli::check_range;
using tern_cli::parse_number;

struct options {
  std::string corpus;                     // empty: the built-in Markov source
  // Fine-tuning data. Empty: the built-in fine-tuning source when `corpus` is the built-in one
  // (the paper's regime: pretraining knowledge that the fine-tuning data cannot teach again),
  // else `corpus` itself. "same": `corpus` itself. Otherwise a file.
  std::string ft_corpus;
  std::string log_dir;                    // empty: no per-step metrics files
  std::int64_t synthetic_bytes = 1 << 20;  // size of each generated built-in corpus
  std::int64_t steps = 1500;               // FP training steps
  std::int64_t ft_steps = 75;              // fine-tuning steps of every ternary variant (5% of `steps`)
  index dim = 96, layers = 4, heads = 4, seq = 64, batch = 16;
  double lr = 5e-3, ft_lr = 1.5e-3, clip = 1.0, weight_decay = 0.01, kd_tau = 1.0;
  std::uint64_t seed = 1;
  int threads = 2;
  index eval_windows = 256;
  bool split_halves = false;  // --split halves: a selection half and a reported half
  std::int64_t log_every = 100;
  bool quick = false, help = false;
  std::string save_fp, load_fp;
  // The paper variant's schedule: the last layer reaches lambda = 1 at ramp_end * ft_steps;
  // each layer's linear ramp lasts ramp_len of that window; layers start one delay apart.
  double ramp_end = 0.25, ramp_len = 0.5;
  tern::layer_order order = tern::layer_order::first_to_last;
  enum class ramp_shape { linear, sigmoid, exponential } shape = ramp_shape::linear;
  std::vector<std::string> variants = {"ptq", "qat_abrupt", "qat_norm", "paper", "kd"};
  // Deployment of the paper variant (and the best ternary one): where, in which formats.
  std::string save_model = "tern_demo.tern";
  tern::infer::weight_format deploy_format = tern::infer::weight_format::tq2;
  tern::infer::weight_format deploy_head = tern::infer::weight_format::f32;
  tern::index sample_bytes = 200;
  bool runs(const std::string& v) const { return std::find(variants.begin(), variants.end(), v) != variants.end(); }
};

const char* usage =
    "usage: tern_demo [options]\n"
    "  --corpus FILE      text file to model byte by byte (default: built-in synthetic Markov source)\n"
    "  --ft-corpus FILE|same  fine-tune the ternary variants on FILE (./same for a file named same;\n"
    "                     distinct from the pretraining\n"
    "                     data), or on the pretraining corpus itself ('same'); every model is evaluated\n"
    "                     on both corpora's validation splits. Default: with the built-in corpus, a\n"
    "                     related built-in Markov source (half of its contexts follow the pretraining\n"
    "                     source's law, half their own), so fine-tuning data covers only part of what\n"
    "                     pretraining taught; with --corpus FILE, 'same'\n"
    "  --log-dir DIR      write DIR/<variant>.csv: step, loss, lr, grad_norm, tokens_per_s, skipped,\n"
    "                     lambda_mean and lambda per layer, one row per training step\n"
    "  --synthetic-bytes N  size of each generated built-in corpus (default 1048576)\n"
    "  --steps N          FP training steps (default 1500)\n"
    "  --ft-steps N       fine-tuning steps of each ternary variant (default 75: 5% of the FP tokens)\n"
    "  --dim D --layers L --heads H   model size (default 96, 4, 4)\n"
    "  --seq S --batch B  window length and windows per step (default 64, 16)\n"
    "  --lr X --ft-lr X   peak learning rates, FP and fine-tuning (default 5e-3, 1.5e-3)\n"
    "  --clip X           global gradient-norm limit (default 1)\n"
    "  --kd-tau X         distillation temperature (default 1)\n"
    "  --eval-windows N   validation windows of S bytes (default 256; 0 = the whole split)\n"
    "  --split S          whole (default): every validation split is reported; halves: the first half\n"
    "                     of each is a selection split (select_loss, ft_select_loss in the JSON: choose\n"
    "                     a learning rate there), the second half the reported validation\n"
    "  --seed N           seed of initialisation and batch order (default 1)\n"
    "  --threads N        threads for Eigen/OpenMP (default 2)\n"
    "  --log-every N      progress line period in steps (default 100)\n"
    "  --save-fp FILE     save the trained FP model (tern checkpoint)\n"
    "  --load-fp FILE     load the FP model instead of training it\n"
    "  --ramp-end F       paper: fraction of --ft-steps at which the last layer reaches lambda 1 (default 0.25)\n"
    "  --ramp-len F       paper: each layer's ramp length as a fraction of that window (default 0.5;\n"
    "                     1: all layers ramp together, no layer-wise delay)\n"
    "  --order first|last paper: quantize the input-side layer first (default) or last\n"
    "  --ramp-shape S     paper: each layer's ramp, linear (default), sigmoid (k 10) or exponential\n"
    "                     (1 - (1 - u)^5)\n"
    "  --variants LIST    comma-separated subset of ptq,qat_abrupt,qat_norm,paper,kd to run\n"
    "                     (default: those five; skipped ones are null in the JSON), and the paper\n"
    "                     recipe's ablations, run only when listed (not deployed): paper_plain (a\n"
    "                     gain-free extra norm), paper_head (the LM head ternary too, with its norm);\n"
    "                     and fp_ft: the FP model fine-tuned the same way, unquantized\n"
    "  --save-model FILE  where the frozen paper variant is saved (default tern_demo.tern; the best\n"
    "                     ternary variant, if another, goes to FILE with its name before the suffix)\n"
    "  --deploy-format F  packed ternary format of the frozen model: tq2 (2 bits, default) or tq1 (1.6)\n"
    "  --deploy-head H    LM head of the frozen model: f32 (default), bf16 or i8\n"
    "  --sample-bytes N   bytes of text the frozen model generates (default 200)\n"
    "  --quick            tiny run for CI (seconds)\n";

/// True when `opt` appears in args followed by an empty value.
bool given_empty(const std::vector<std::string>& args, const char* opt) {
  for (std::size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == opt && args[i + 1].empty()) return true;
  return false;
}

options parse(int argc, char** argv) {
  options o;
  std::vector<std::string> args(argv + 1, argv + argc);
  // --quick first, so explicit options given with it still win.
  for (const auto& a : args)
    if (a == "--quick") {
      o.quick = true;
      o.synthetic_bytes = 1 << 15;
      o.steps = 30;
      o.ft_steps = 12;
      o.dim = 32;
      o.layers = 2;
      o.heads = 2;
      o.seq = 32;
      o.batch = 8;
      o.eval_windows = 16;
      o.log_every = 10;
      o.threads = 1;
    }
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--quick") continue;
    if (a == "--help" || a == "-h") {
      o.help = true;
      return o;
    }
    if (i + 1 >= args.size()) throw std::invalid_argument("option " + a + " needs a value (or is unknown)");
    const std::string& v = args[++i];
    if (a == "--corpus") o.corpus = v;
    else if (a == "--ft-corpus") o.ft_corpus = v;
    else if (a == "--log-dir") o.log_dir = v;
    else if (a == "--synthetic-bytes") o.synthetic_bytes = parse_number<std::int64_t>(a, v);
    else if (a == "--steps") o.steps = parse_number<std::int64_t>(a, v);
    else if (a == "--ft-steps") o.ft_steps = parse_number<std::int64_t>(a, v);
    else if (a == "--dim") o.dim = parse_number<index>(a, v);
    else if (a == "--layers") o.layers = parse_number<index>(a, v);
    else if (a == "--heads") o.heads = parse_number<index>(a, v);
    else if (a == "--seq") o.seq = parse_number<index>(a, v);
    else if (a == "--batch") o.batch = parse_number<index>(a, v);
    else if (a == "--lr") o.lr = parse_number<double>(a, v);
    else if (a == "--ft-lr") o.ft_lr = parse_number<double>(a, v);
    else if (a == "--clip") o.clip = parse_number<double>(a, v);
    else if (a == "--kd-tau") o.kd_tau = parse_number<double>(a, v);
    else if (a == "--eval-windows") o.eval_windows = parse_number<index>(a, v);
    else if (a == "--seed") o.seed = parse_number<std::uint64_t>(a, v);
    else if (a == "--threads") o.threads = parse_number<int>(a, v);
    else if (a == "--log-every") o.log_every = parse_number<std::int64_t>(a, v);
    else if (a == "--save-fp") o.save_fp = v;
    else if (a == "--load-fp") o.load_fp = v;
    else if (a == "--ramp-end") o.ramp_end = parse_number<double>(a, v);
    else if (a == "--ramp-len") o.ramp_len = parse_number<double>(a, v);
    else if (a == "--save-model") {
      if (v.empty()) throw std::invalid_argument("option --save-model: the path is empty");
      o.save_model = v;
    } else if (a == "--deploy-format") {
      if (v == "tq2") o.deploy_format = tern::infer::weight_format::tq2;
      else if (v == "tq1") o.deploy_format = tern::infer::weight_format::tq1;
      else throw std::invalid_argument("option --deploy-format: '" + v + "' is not tq2 or tq1");
    } else if (a == "--deploy-head") {
      if (v == "f32") o.deploy_head = tern::infer::weight_format::f32;
      else if (v == "bf16") o.deploy_head = tern::infer::weight_format::bf16;
      else if (v == "i8") o.deploy_head = tern::infer::weight_format::i8;
      else throw std::invalid_argument("option --deploy-head: '" + v + "' is not f32, bf16 or i8");
    } else if (a == "--sample-bytes") {
      o.sample_bytes = parse_number<index>(a, v);
      // a bound so that a typo is an error, not an hour of generation
      if (o.sample_bytes < 0 || o.sample_bytes > (index(1) << 20))
        throw std::invalid_argument("option --sample-bytes must be in [0, 1048576]");
    }
    else if (a == "--split") {
      if (v == "whole") o.split_halves = false;
      else if (v == "halves") o.split_halves = true;
      else throw std::invalid_argument("option --split: '" + v + "' is not whole or halves");
    } else if (a == "--ramp-shape") {
      if (v == "linear") o.shape = options::ramp_shape::linear;
      else if (v == "sigmoid") o.shape = options::ramp_shape::sigmoid;
      else if (v == "exponential") o.shape = options::ramp_shape::exponential;
      else throw std::invalid_argument("option --ramp-shape: '" + v + "' is not linear, sigmoid or exponential");
    } else if (a == "--order") {
      if (v == "first") o.order = tern::layer_order::first_to_last;
      else if (v == "last") o.order = tern::layer_order::last_to_first;
      else throw std::invalid_argument("option --order: '" + v + "' is not first or last");
    } else if (a == "--variants") {
      o.variants.clear();
      std::istringstream list(v);
      for (std::string name; std::getline(list, name, ',');) {
        if (name != "ptq" && name != "qat_abrupt" && name != "qat_norm" && name != "paper" && name != "kd" &&
            name != "paper_plain" && name != "paper_head" && name != "fp_ft")
          throw std::invalid_argument("option --variants: unknown variant '" + name +
                                      "' (known: ptq, qat_abrupt, qat_norm, paper, kd, paper_plain, paper_head, fp_ft)");
        o.variants.push_back(name);
      }
      if (o.variants.empty()) throw std::invalid_argument("option --variants: the list is empty");
    }
    else throw std::invalid_argument("unknown option " + a + " (see --help)");
  }
  // Bounds, each with the reason; together they keep every derived size (tokens, parameters,
  // attention scores, the corpus windows) far inside int64 and inside a machine's memory.
  constexpr std::int64_t max_steps = 100'000'000;
  check_range("--steps", o.steps, std::int64_t(1), max_steps, "10^8 steps take days even for the smallest model");
  check_range("--ft-steps", o.ft_steps, std::int64_t(1), max_steps, "10^8 steps take days even for the smallest model");
  check_range("--synthetic-bytes", o.synthetic_bytes, std::int64_t(1), std::int64_t(1) << 32,
              "each generated corpus is held in memory (two by default): 4 GiB each at most");
  check_range("--dim", o.dim, index(2), index(4096),
              "weights, gradients and two AdamW moments take ~200 dim^2 bytes per layer: 3 GiB at 4096");
  check_range("--layers", o.layers, index(1), index(256), "memory grows linearly with the layers");
  check_range("--heads", o.heads, index(1), index(256), "each head needs dim / heads >= 2 features");
  check_range("--seq", o.seq, index(1), index(8192), "attention keeps a seq x seq score matrix per head: 256 MiB at 8192");
  check_range("--batch", o.batch, index(1), index(65536), "a batch beyond 65536 windows does not fit any step's activations");
  check_range("--batch x --seq", o.batch * o.seq, index(1), index(1) << 20,
              "one step's activations take tens of floats per token, layer and feature");
  check_above("--lr", o.lr, 0.0, 1.0, "AdamW moves each weight by about lr per step; beyond 1 training diverges");
  check_above("--ft-lr", o.ft_lr, 0.0, 1.0, "AdamW moves each weight by about lr per step; beyond 1 training diverges");
  check_above("--clip", o.clip, 0.0, 1e6, "a gradient-norm limit; 1e6 is no limit at all");
  check_above("--kd-tau", o.kd_tau, 0.0, 100.0, "beyond 100 the softened teacher is uniform to float precision");
  check_range("--eval-windows", o.eval_windows, index(0), index(1) << 24,
              "0 means every window of the split; more is a forward pass per window for nothing");
  check_range("--threads", o.threads, 1, 1024, "more threads than cores only adds contention");
  check_range("--log-every", o.log_every, std::int64_t(0), max_steps, "a period in steps; 0: no progress lines");
  if (!(o.ramp_end > 0 && o.ramp_end <= 1)) throw std::invalid_argument("option --ramp-end must be in (0, 1]");
  if (!(o.ramp_len > 0 && o.ramp_len <= 1)) throw std::invalid_argument("option --ramp-len must be in (0, 1]");
  for (const char* opt : {"--corpus", "--ft-corpus", "--log-dir", "--save-fp", "--load-fp"})
    if (given_empty(args, opt)) throw std::invalid_argument(std::string("option ") + opt + " needs a file name, got ''");
  return o;
}

tern::transformer_config model_config(const options& o) {
  tern::transformer_config c;
  c.vocab = 256;
  c.dim = o.dim;
  c.n_layers = o.layers;
  c.n_heads = o.heads;
  c.n_kv_heads = o.heads;
  // SwiGLU width ~ 8/3 dim, rounded up to a multiple of 8.
  c.ffn_hidden = ((8 * o.dim / 3) + 7) / 8 * 8;
  c.max_seq = o.seq;
  c.validate();
  return c;
}

std::string model_tag(const tern::transformer_config& c) {
  return "tern::transformer<float, fp_policy> vocab=" + std::to_string(c.vocab) + " dim=" + std::to_string(c.dim) +
         " layers=" + std::to_string(c.n_layers) + " heads=" + std::to_string(c.n_heads) +
         " kv_heads=" + std::to_string(c.n_kv_heads) + " ffn=" + std::to_string(c.ffn_hidden) +
         " max_seq=" + std::to_string(c.max_seq);
}

struct result {
  bool ran = true;      // false: skipped with --variants
  double val_loss = 0;  // nats per byte, on the pretraining corpus's validation split
  double ft_val_loss = NAN;  // nats per byte on --ft-corpus's validation split (NAN: none)
  double select_loss = NAN, ft_select_loss = NAN;  // the same on the selection halves (--split halves)
  std::int64_t steps = 0, tokens = 0;
  double seconds = 0;
  double bits() const { return val_loss / std::log(2.0); }
};

/// The validation windows of a corpus: `report` scores the reported losses; with --split halves
/// the split is cut at its middle, `select` holds the windows that end in the first half and
/// `report` those that start in the second (a window across the cut is in neither), each thinned
/// evenly to --eval-windows.
struct holdout {
  std::vector<index> report, select;
};

holdout holdout_windows(const tern::byte_corpus& c, const options& o) {
  if (!o.split_halves) return {c.validation_starts(o.seq, o.eval_windows), {}};
  const index cut = c.validation_size() / 2;
  std::vector<index> first, second;
  for (const index s : c.validation_starts(o.seq, 0)) {
    if (s + o.seq + 1 <= cut) first.push_back(s);
    else if (s >= cut) second.push_back(s);
  }
  if (first.empty() || second.empty())
    throw std::invalid_argument("--split halves: each half of the " + std::to_string(c.validation_size()) +
                                "-byte validation split of " + c.name() + " must hold a window of --seq + 1 = " +
                                std::to_string(o.seq + 1) + " bytes");
  const auto thin = [&](const std::vector<index>& v) {  // element floor(i n / count), i < count
    const index n = index(v.size());
    const index count = o.eval_windows > 0 && o.eval_windows < n ? o.eval_windows : n;
    std::vector<index> out;
    for (index i = 0; i < count; ++i) out.push_back(v[std::size_t(i * n / count)]);
    return out;
  };
  return {thin(second), thin(first)};
}

/// Mean cross-entropy (nats/byte) over the fixed validation windows, at the lambda set.
template <class Model>
/// With several ranks each evaluates its share of the windows (dist::shard_of) and the
/// token-weighted mean is reduced; one rank evaluates them all, as without MPI.
double evaluate(Model& m, const tern::byte_corpus& corpus, const std::vector<index>& starts, index seq,
                const tern::dist::communicator& comm) {
  if (comm.size() == 1 || index(starts.size()) < comm.size()) return tern::evaluate_lm(m, corpus, starts, seq);
  const tern::dist::shard_range r = tern::dist::shard_of(index(starts.size()), comm.rank(), comm.size());
  const std::vector<index> mine(starts.begin() + r.begin, starts.begin() + r.begin + r.count);
  double sums[2] = {tern::evaluate_lm(m, corpus, mine, seq) * double(r.count), double(r.count)};
  comm.allreduce_sum(std::span<double>(sums));
  return sums[0] / sums[1];
}

/// Where progress goes: stderr on rank 0, nowhere on the others.
std::ostream& log_of(const tern::dist::communicator& comm) {
  static std::ostream nowhere(nullptr);
  return comm.is_root() ? std::cerr : nowhere;
}

/// Trains `m` for `steps` steps on random windows; `set_lambda(step)` runs before each step
/// and returns the lambda to display; `teacher` (if any) makes the loss KD instead of CE.
/// Every rank of `comm` draws the same global batch and trains on its shard; the gradients and
/// the loss are averaged over the ranks.
template <class Model, class SetLambda, class Teacher = tern::transformer<float, tern::fp_policy>>
result train_model(Model& m, const std::string& label, const tern::byte_corpus& corpus, const options& o,
                   const tern::dist::communicator& comm, std::int64_t steps, double peak_lr, std::uint64_t data_seed,
                   SetLambda set_lambda, Teacher* teacher = nullptr) {
  tern::adamw_config ac;
  ac.lr = peak_lr;
  ac.beta2 = 0.99;
  ac.weight_decay = o.weight_decay;
  tern::adamw<float> opt(ac);
  const tern::lr_schedule lr(peak_lr, std::max<std::int64_t>(1, steps / 20), steps, peak_lr / 10);
  tern::rng data_rng(data_seed);
  tern::train_state state;
  tern::cross_entropy<float> ce;
  tern::kd_loss<float> kd(o.kd_tau);
  tern::dist::gradient_averager<float> averager(comm);
  auto step = [&](std::int64_t t) -> double {
    set_lambda(t);
    const tern::token_batch global = corpus.sample_train(o.batch, o.seq, data_rng);
    const tern::token_batch b = tern::dist::shard_batch(global, comm.rank(), comm.size());
    const double loss = teacher ? tern::kd_step(m, *teacher, b, kd) : tern::lm_step(m, b, ce);
    return averager.average(m, loss, std::int64_t(b.inputs.size()));
  };
  tern::trainer_options to;
  to.end_step = steps;
  to.tokens_per_step = o.batch * o.seq;
  to.clip = o.clip;
  to.log_every = o.log_every;
  to.label = label;
  to.log = &log_of(comm);
  to.lambda_of = [&](std::int64_t) {
    double s = 0;
    for (index l = 0; l < m.n_layers(); ++l) s += m.lambda(l);
    return s / double(m.n_layers());
  };
  std::ofstream metrics;
  if (!o.log_dir.empty() && comm.is_root()) {  // rank 0 writes the metrics (the same on every rank)
    const std::string file = (std::filesystem::path(o.log_dir) / (label + ".csv")).string();
    metrics.open(file);
    if (!metrics) throw std::runtime_error("--log-dir: cannot write '" + file + "'");
    metrics << "step,loss,lr,grad_norm,tokens_per_s,skipped,lambda_mean";
    for (index l = 0; l < m.n_layers(); ++l) metrics << ",lambda_" << l;
    metrics << "\n";
    to.on_step = [&](const tern::step_record& r) {
      double mean = 0;
      for (index l = 0; l < m.n_layers(); ++l) mean += m.lambda(l);
      char buf[160];
      std::snprintf(buf, sizeof buf, "%lld,%.6g,%.6g,%.6g,%.1f,%d,%.6g", static_cast<long long>(r.step), r.loss, r.lr,
                    r.grad_norm, r.tokens_per_s, r.skipped ? 1 : 0, mean / double(m.n_layers()));
      metrics << buf;
      for (index l = 0; l < m.n_layers(); ++l) metrics << ',' << m.lambda(l);
      metrics << '\n';
    };
  }
  const tern::train_report rep = tern::train(m, opt, lr, state, step, to);
  if (metrics && !metrics.flush()) throw std::runtime_error("--log-dir: writing the metrics of " + label + " failed");
  if (rep.skipped > 0) log_of(comm) << "[" << label << "] " << rep.skipped << " steps skipped (non-finite loss or gradient)\n";
  result r;
  r.steps = state.step;
  r.tokens = state.tokens;
  r.seconds = rep.seconds;
  return r;
}

/// x for the JSON line (null when not finite): losses and seconds with 6 decimals; learning
/// rates pass "%.9g", their significant digits (5e-7 is not 0.000000).
std::string json_number(double x, const char* format = "%.6f") {
  if (!std::isfinite(x)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, format, x);
  return buf;
}

/// FILE with ".<variant>" before its extension: tern_demo.tern -> tern_demo.qat_norm.tern.
std::string with_variant(const std::string& file, const std::string& variant) {
  const std::filesystem::path p(file);
  return (p.parent_path() / (p.stem().string() + "." + variant + p.extension().string())).string();
}

/// Text with control bytes (other than newline shown as \n) escaped, for the terminal.
std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char ch : s) {
    if (ch == '\n') out += "\\n";
    else if (ch < 0x20 || ch >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", ch);
      out += buf;
    } else out += char(ch);
  }
  return out;
}

/// Bytes as a JSON string body: valid UTF-8 sequences as they are, JSON's escapes for quotes,
/// backslashes and control bytes, and any other byte (generated text need not be UTF-8) as the
/// code point of the same number (\u00XX), so the line stays valid JSON.
std::string json_text(const std::string& s) {
  std::string out;
  const auto* b = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  for (std::size_t i = 0; i < n;) {
    const unsigned char c = b[i];
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool valid = len > 0 && i + len <= n;
    for (std::size_t k = 1; valid && k < len; ++k) valid = (b[i + k] >> 6) == 0x2;
    if (len == 1) {
      out += tern::detail::json_escape(std::string_view(s).substr(i, 1));
      ++i;
    } else if (valid) {
      out.append(s, i, len);
      i += len;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", unsigned(c));
      out += buf;
      ++i;
    }
  }
  return out;
}

/// What the deployment step measured for one frozen variant.
struct deployment {
  std::string variant, format, head, file, path, sample;
  double val_loss = 0, fake_quant_val_loss = 0, decode_tps = 0, prefill_tps = 0, bits_per_weight = 0;
  std::uintmax_t model_bytes = 0;
};

/// Mean cross-entropy (nats/byte) of the frozen model over the validation windows: each window
/// is one prefill through the kernels (all logits), the same windows as evaluate().
double evaluate_frozen(const tern::infer::inference_model& m, const tern::byte_corpus& corpus,
                       const std::vector<index>& starts, index seq, tern::kernels::thread_pool& pool) {
  const tern::token_batch b = corpus.validation_batch(starts, seq);
  tern::infer::session s(m);
  double total = 0;
  for (index w = 0; w < b.batch; ++w) {
    s.reset();
    const tern::matrix<float>& logits =
        s.forward(std::span<const tern::token>(b.inputs.data() + w * seq, std::size_t(seq)), true, pool);
    for (index t = 0; t < seq; ++t) {  // log-sum-exp minus the target's logit, in double
      const double mx = logits.row(t).maxCoeff();
      double sum = 0;
      for (index v = 0; v < logits.cols(); ++v) sum += std::exp(double(logits(t, v)) - mx);
      total += mx + std::log(sum) - double(logits(t, b.targets[std::size_t(w * seq + t)]));
    }
  }
  return total / double(b.batch * seq);
}

/// Freezes `m`, saves it to `path`, reloads it (memory-mapped) and measures the reloaded model:
/// validation loss on the kernels, prefill tokens/s over full windows, a sample and its decode
/// tokens/s.
template <class Model>
deployment deploy(Model& m, const std::string& variant, double fake_quant_loss, const std::string& path,
                  const tern::byte_corpus& corpus, const std::vector<index>& starts, const options& o) {
  namespace ti = tern::infer;
  using clock = std::chrono::steady_clock;
  deployment d;
  d.variant = variant;
  d.file = path;
  d.fake_quant_val_loss = fake_quant_loss;
  d.format = std::string(ti::format_name(o.deploy_format));
  d.head = std::string(ti::format_name(o.deploy_head));
  tern::save_model(path, ti::freeze(m, {.ternary = o.deploy_format, .head = o.deploy_head}));
  const ti::inference_model fm = tern::load_model(path);
  d.model_bytes = std::filesystem::file_size(path);
  d.bits_per_weight = fm.bits_per_linear_weight();
  tern::kernels::thread_pool pool(unsigned(o.threads));
  d.path = std::string(tern::kernels::path_name(tern::kernels::detect_path()));
  d.val_loss = evaluate_frozen(fm, corpus, starts, o.seq, pool);
  {  // prefill: full windows of the context length, repeated for at least a quarter second
    const tern::token_batch b = corpus.validation_batch({starts.front()}, o.seq);
    ti::session s(fm);
    index runs = 0;
    const auto t0 = clock::now();
    double secs = 0;
    do {
      s.reset();
      s.forward(b.inputs, false, pool);
      ++runs;
      secs = std::chrono::duration<double>(clock::now() - t0).count();
    } while (runs < 3 || secs < 0.25);
    d.prefill_tps = double(runs * o.seq) / secs;
  }
  if (o.sample_bytes > 0) {  // a sample continuing the start of the validation text
    const index prompt_len = std::min<index>(32, std::max<index>(1, o.seq / 2));
    std::vector<tern::token> prompt(corpus.validation_data(), corpus.validation_data() + prompt_len);
    ti::session s(fm);
    ti::generate_options g;
    g.max_new_tokens = o.sample_bytes;
    g.sampling = {.temperature = 0.8, .top_k = 40, .seed = o.seed};
    std::string text;
    const ti::generate_stats st = ti::generate(s, prompt, g, [&](tern::token t) { text += char(t); }, pool);
    d.sample = std::string(prompt.begin(), prompt.end()) + text;
    d.decode_tps = st.decode_tokens_per_s();
  }
  std::cerr << "deploy " << variant << ": saved " << path << " (" << d.model_bytes << " bytes), validation on the kernels "
            << d.val_loss << " nats/byte (fake-quantized " << fake_quant_loss << ")\n";
  return d;
}

std::string deployment_fields(const deployment& d) {
  return "\"variant\":\"" + d.variant + "\",\"format\":\"" + d.format + "\",\"head\":\"" + d.head +
         "\",\"val_loss\":" + json_number(d.val_loss) + ",\"fake_quant_val_loss\":" + json_number(d.fake_quant_val_loss) +
         ",\"decode_tokens_per_s\":" + json_number(d.decode_tps) + ",\"prefill_tokens_per_s\":" + json_number(d.prefill_tps) +
         ",\"model_bytes\":" + std::to_string(d.model_bytes) + ",\"bits_per_linear_weight\":" + json_number(d.bits_per_weight) +
         ",\"model_file\":\"" + tern::detail::json_escape(d.file) + "\",\"sample\":\"" + json_text(d.sample) + "\"";
}

/// The "deploy" object: the paper variant's figures, the best ternary variant's name, and its
/// figures under "best" when it is another variant.
std::string deployment_json(const deployment& d, const deployment* best, const std::string& best_key) {
  std::string j = "{" + deployment_fields(d) + ",\"best_variant\":\"" + best_key + "\"";
  if (best) j += ",\"best\":{" + deployment_fields(*best) + "}";
  return j + "}";
}

int run(const options& o, const tern::dist::communicator& comm) {
  std::ostream& log = log_of(comm);
  tern::retain_heap();  // reuse freed activation buffers across steps (train/retain_heap.hpp)
#ifdef _OPENMP
  omp_set_num_threads(o.threads);
#endif
  Eigen::setNbThreads(o.threads);

  // ---- data ----
  std::optional<tern::markov_source> source, ft_source;
  std::optional<tern::byte_corpus> corpus_holder;
  if (o.corpus.empty()) {
    source.emplace();  // the default source: fixed table seed
    corpus_holder.emplace(source->generate(std::size_t(o.synthetic_bytes), /*text seed=*/1),
                          "built-in Markov source (order 2, 32 symbols)", 0.1, o.seq + 1);
  } else {
    corpus_holder.emplace(tern::byte_corpus::from_file(o.corpus, 0.1, o.seq + 1));
  }
  const tern::byte_corpus& corpus = *corpus_holder;
  const holdout held = holdout_windows(corpus, o);
  const auto& starts = held.report;
  log << "corpus: " << corpus.name() << ", " << corpus.size() << " bytes (" << corpus.train_size()
            << " train, " << corpus.validation_size() << " validation; " << starts.size() << " validation windows of "
            << o.seq << (o.split_halves ? " in its second half, " + std::to_string(held.select.size()) +
                                              " selection windows in its first" : std::string())
            << ")\n";
  std::optional<tern::byte_corpus> ft_holder;
  if (o.ft_corpus.empty() && o.corpus.empty()) {
    // A related source: the same alphabet and order, half of the contexts with the pretraining
    // source's next-byte law and half with laws of its own. Its text teaches the shared half
    // again; what fine-tuning does to the other half of the pretraining knowledge it cannot
    // repair, as fine-tuning data covers only part of what an LLM learned in pretraining.
    tern::markov_source_config c;
    c.seed = 2;
    c.shared = 0.5;
    c.shared_seed = source->config().seed;
    ft_source.emplace(c);
    ft_holder.emplace(ft_source->generate(std::size_t(o.synthetic_bytes), /*text seed=*/2),
                      "built-in related Markov source (half of its contexts as in pretraining)", 0.1, o.seq + 1);
  } else if (!o.ft_corpus.empty() && o.ft_corpus != "same") {
    ft_holder.emplace(tern::byte_corpus::from_file(o.ft_corpus, 0.1, o.seq + 1));
  }
  if (ft_holder) {
    log << "fine-tuning corpus: " << ft_holder->name() << ", " << ft_holder->size() << " bytes ("
              << ft_holder->train_size() << " train, " << ft_holder->validation_size() << " validation)\n";
  }
  if (!o.log_dir.empty() && comm.is_root()) {
    std::error_code ec;
    if (std::filesystem::exists(o.log_dir, ec) && !std::filesystem::is_directory(o.log_dir, ec))
      throw std::runtime_error("--log-dir: '" + o.log_dir + "' exists and is not a directory");
    std::filesystem::create_directories(o.log_dir, ec);
    if (ec) throw std::runtime_error("--log-dir: cannot create '" + o.log_dir + "': " + ec.message());
  }
  // The variants fine-tune on `ft`; every model is evaluated on the pretraining split and, when
  // the fine-tuning data is distinct from it, on the fine-tuning corpus's split too.
  const tern::byte_corpus& ft = ft_holder ? *ft_holder : corpus;
  const holdout ft_held = ft_holder ? holdout_windows(ft, o) : held;
  const auto evaluate_both = [&](auto& m, result& r) {
    r.val_loss = evaluate(m, corpus, starts, o.seq, comm);
    if (ft_holder) r.ft_val_loss = evaluate(m, ft, ft_held.report, o.seq, comm);
    if (o.split_halves) {
      r.select_loss = evaluate(m, corpus, held.select, o.seq, comm);
      if (ft_holder) r.ft_select_loss = evaluate(m, ft, ft_held.select, o.seq, comm);
    }
  };
  if (source)
    log << "  true entropy rate of the source: " << source->entropy_bits_per_byte() << " bits/byte = "
              << source->entropy_nats_per_byte() << " nats/byte\n";
  if (ft_source)
    log << "  true entropy rate of the fine-tuning source: " << ft_source->entropy_bits_per_byte() << " bits/byte = "
        << ft_source->entropy_nats_per_byte() << " nats/byte\n";

  const tern::transformer_config cfg = model_config(o);
  using fp_model = tern::transformer<float, tern::fp_policy>;
  using qat_model = tern::transformer<float, tern::qat_policy>;
  using norm_model = tern::transformer<float, tern::extra_norm_policy>;
  using plain_norm_model = tern::transformer<
      float, tern::model_policy<tern::projection<tern::absmean_ternary<>, tern::absmax_int8<>, tern::plain_rms_norm>>>;
  using ternary_head_model =
      tern::transformer<float, tern::with_head<tern::extra_norm_policy, tern::ternary_extra_norm_projection>>;
  const auto t_all = std::chrono::steady_clock::now();

  // ---- (1) the FP model ----
  fp_model fp(cfg, o.seed);
  log << "model: dim " << cfg.dim << ", " << cfg.n_layers << " layers, " << cfg.n_heads << " heads, ffn "
            << cfg.ffn_hidden << ", " << fp.parameter_count() << " parameters; " << o.batch << " x " << o.seq
            << " tokens per step; " << o.threads << " thread(s)"
      << (comm.size() > 1 ? " per rank, " + std::to_string(comm.size()) + " ranks" : std::string()) << "\n";
  result r_fp;
  if (!o.load_fp.empty()) {
    tern::train_state st;
    tern::dist::load_checkpoint_from_root(comm, o.load_fp, fp, model_tag(cfg), nullptr, &st);
    r_fp.steps = st.step;
    r_fp.tokens = st.tokens;
    log << "loaded FP model from " << o.load_fp << " (" << st.step << " steps)\n";
  } else {
    r_fp = train_model(fp, "fp", corpus, o, comm, o.steps, o.lr, o.seed * 1000003 + 1, [](std::int64_t) {});
    if (!o.save_fp.empty()) {
      tern::train_state st;
      st.step = r_fp.steps;
      st.tokens = r_fp.tokens;
      tern::dist::save_checkpoint_on_root(comm, o.save_fp, fp, model_tag(cfg), nullptr, &st);
    }
  }
  evaluate_both(fp, r_fp);
  log << "fp: validation " << r_fp.val_loss << " nats/byte\n";

  // ---- (2) ternary variants, all fine-tuned on the same batches ----
  const std::uint64_t ft_seed = o.seed * 1000003 + 2;
  const auto skipped = [] {
    result r;
    r.ran = false;
    return r;
  };
  result r_ptq = skipped();
  if (o.runs("ptq")) {
    r_ptq.ran = true;
    const auto t0 = std::chrono::steady_clock::now();
    qat_model m(cfg, o.seed);
    m.copy_parameters_from(fp);
    m.set_lambda(1.0);
    evaluate_both(m, r_ptq);
    r_ptq.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    log << "ptq: validation " << r_ptq.val_loss << " nats/byte\n";
  }
  // The fine-tuned models are kept for the deployment step.
  std::optional<qat_model> m_abrupt, m_kd;
  std::optional<norm_model> m_norm, m_paper;
  result r_abrupt = skipped();
  if (o.runs("qat_abrupt")) {
    qat_model& m = m_abrupt.emplace(cfg, o.seed);
    m.copy_parameters_from(fp);
    r_abrupt = train_model(m, "qat_abrupt", ft, o, comm, o.ft_steps, o.ft_lr, ft_seed, [&](std::int64_t) { m.set_lambda(1.0); });
    m.set_lambda(1.0);
    evaluate_both(m, r_abrupt);
  }
  result r_norm = skipped();
  if (o.runs("qat_norm")) {
    norm_model& m = m_norm.emplace(cfg, o.seed);
    m.copy_parameters_from(fp);
    r_norm = train_model(m, "qat_norm", ft, o, comm, o.ft_steps, o.ft_lr, ft_seed, [&](std::int64_t) { m.set_lambda(1.0); });
    m.set_lambda(1.0);
    evaluate_both(m, r_norm);
  }
  // The paper's schedule. Layer pos(l) (its place in --order) ramps lambda from 0 to 1 over
  // `ramp` steps (in --ramp-shape), starting at pos(l) * delay; the last one is fully ternary at
  // `window` = ramp_end x the fine-tuning budget (default: a quarter), and the rest of the
  // budget trains the fully ternary model.
  const std::int64_t window = std::max<std::int64_t>(1, std::int64_t(std::llround(o.ramp_end * double(o.ft_steps))));
  const std::int64_t ramp = std::max<std::int64_t>(1, std::int64_t(std::llround(o.ramp_len * double(window))));
  const std::int64_t delay = cfg.n_layers > 1 ? (window - ramp) / (cfg.n_layers - 1) : 0;
  const char* shape_name = o.shape == options::ramp_shape::sigmoid       ? "sigmoid"
                           : o.shape == options::ramp_shape::exponential ? "exponential"
                                                                         : "linear";
  const auto with_paper_schedule = [&](auto&& f) {
    const auto layered = [&](auto shape) {
      return tern::layer_wise<decltype(shape)>(shape, int(cfg.n_layers), 0, delay, o.order);
    };
    if (o.shape == options::ramp_shape::sigmoid) return f(layered(tern::sigmoid_warmup(ramp)));
    if (o.shape == options::ramp_shape::exponential) return f(layered(tern::exponential_warmup(ramp)));
    return f(layered(tern::linear_warmup(ramp)));
  };
  if (o.runs("paper") || o.runs("paper_plain") || o.runs("paper_head")) {
    if (cfg.n_layers > 1 && delay == 0)
      log << "paper: all layers ramp together over " << ramp << " steps (" << shape_name
          << "; the ramp fills the window: no layer-wise delay, --order has no effect)\n";
    else
      log << "paper: layer-wise " << shape_name << " ramps of " << ramp << " steps, " << delay << " apart, "
          << (o.order == tern::layer_order::first_to_last ? "first" : "last") << " layer first\n";
  }
  // Fine-tunes m (the FP weights copied in) with the paper's schedule.
  const auto fine_tune_paper = [&](auto& m, const char* key, result& r) {
    m.copy_parameters_from(fp);
    with_paper_schedule([&](const auto& schedule) {
      r = train_model(m, key, ft, o, comm, o.ft_steps, o.ft_lr, ft_seed,
                      [&](std::int64_t t) { m.set_lambda(schedule, t); });
    });
    m.set_lambda(1.0);
    evaluate_both(m, r);
  };
  result r_paper = skipped();
  if (o.runs("paper")) fine_tune_paper(m_paper.emplace(cfg, o.seed), "paper", r_paper);
  // Ablations of the recipe: the same schedule with a gain-free extra norm, or with the LM head
  // ternary too (the paper's worst case). Evaluated, not deployed.
  result r_plain = skipped(), r_head = skipped();
  if (o.runs("paper_plain")) {
    plain_norm_model m(cfg, o.seed);
    fine_tune_paper(m, "paper_plain", r_plain);
  }
  if (o.runs("paper_head")) {
    ternary_head_model m(cfg, o.seed);
    fine_tune_paper(m, "paper_head", r_head);
  }
  // FP fine-tuning on the same batches: what the data alone does to the model, and the FP
  // reference for the ternary variants' learning rates. Evaluated, not deployed.
  result r_fp_ft = skipped();
  if (o.runs("fp_ft")) {
    fp_model m(cfg, o.seed);
    m.copy_parameters_from(fp);
    r_fp_ft = train_model(m, "fp_ft", ft, o, comm, o.ft_steps, o.ft_lr, ft_seed, [](std::int64_t) {});
    evaluate_both(m, r_fp_ft);
  }
  result r_kd = skipped();
  if (o.runs("kd")) {
    qat_model& m = m_kd.emplace(cfg, o.seed);
    m.copy_parameters_from(fp);
    r_kd = train_model(m, "kd", ft, o, comm, o.ft_steps, o.ft_lr, ft_seed, [&](std::int64_t) { m.set_lambda(1.0); }, &fp);
    m.set_lambda(1.0);
    evaluate_both(m, r_kd);
  }

  // Rank 0 alone deploys (one file, measured speeds undisturbed) and reports.
  if (!comm.is_root()) return 0;

  // ---- (3) deployment: freeze, evaluate on the kernels, save, reload, generate ----
  // The paper variant, and the best ternary variant by validation loss if it is another one.
  std::optional<deployment> dep, dep_best;
  std::string best_key;
  {
    double best = INFINITY;
    const std::pair<const char*, const result*> ternary[] = {
        {"qat_abrupt", &r_abrupt}, {"qat_norm", &r_norm}, {"paper", &r_paper}, {"kd", &r_kd}};
    for (const auto& [key, r] : ternary)
      if (r->ran && r->val_loss < best) {
        best = r->val_loss;
        best_key = key;
      }
  }
  const auto deploy_variant = [&](const std::string& key) -> deployment {
    const std::string path = key == "paper" || !r_paper.ran ? o.save_model : with_variant(o.save_model, key);
    if (key == "paper") return deploy(*m_paper, key, r_paper.val_loss, path, corpus, starts, o);
    if (key == "qat_norm") return deploy(*m_norm, key, r_norm.val_loss, path, corpus, starts, o);
    if (key == "qat_abrupt") return deploy(*m_abrupt, key, r_abrupt.val_loss, path, corpus, starts, o);
    return deploy(*m_kd, key, r_kd.val_loss, path, corpus, starts, o);
  };
  if (r_paper.ran) dep = deploy_variant("paper");
  if (!best_key.empty() && best_key != "paper") (r_paper.ran ? dep_best : dep) = deploy_variant(best_key);
  const double total_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_all).count();

  // ---- (4) report ----
  struct row {
    const char* key;
    const char* what;
    const result* r;
  };
  const std::vector<row> rows = {{"fp", "full precision (teacher)", &r_fp},
                                 {"ptq", "(a) post-training quantization", &r_ptq},
                                 {"qat_abrupt", "(b) QAT, lambda=1 from step 0", &r_abrupt},
                                 {"qat_norm", "(c) (b) + extra RMSNorm", &r_norm},
                                 {"paper", "(d) extra RMSNorm + layer-wise", &r_paper},
                                 {"kd", "(e) distillation, no extra norm", &r_kd}};
  // The ablations appear only when they ran.
  std::vector<row> all_rows = rows;
  if (r_plain.ran) all_rows.push_back({"paper_plain", "(d) with a gain-free extra norm", &r_plain});
  if (r_head.ran) all_rows.push_back({"paper_head", "(d) + ternary LM head", &r_head});
  if (r_fp_ft.ran) all_rows.push_back({"fp_ft", "FP fine-tuned, not quantized", &r_fp_ft});
  const double gap = r_ptq.ran ? r_ptq.val_loss - r_fp.val_loss : NAN;
  std::printf("\ntern_demo: %s, %lld bytes, seed %llu, model dim %lld x %lld layers\n", corpus.name().c_str(),
              static_cast<long long>(corpus.size()), static_cast<unsigned long long>(o.seed),
              static_cast<long long>(cfg.dim), static_cast<long long>(cfg.n_layers));
  if (source)
    std::printf("source entropy (the limit): %.4f nats/byte = %.4f bits/byte\n", source->entropy_nats_per_byte(),
                source->entropy_bits_per_byte());
  if (ft_source)
    std::printf("fine-tuning source entropy (the limit): %.4f nats/byte = %.4f bits/byte\n",
                ft_source->entropy_nats_per_byte(), ft_source->entropy_bits_per_byte());
  if (ft_holder)
    std::printf("fine-tuned on: %s, %lld bytes; 'val nats' is the pretraining corpus's validation split, 'ft nats' "
                "the fine-tuning corpus's\n",
                ft.name().c_str(), static_cast<long long>(ft.size()));
  if (o.split_halves)
    std::printf("--split halves: 'val nats' and 'ft nats' are the second halves of the validation splits, 'sel' and "
                "'ft sel' the first (selection) halves\n");
  std::printf("%-11s %-33s %9s %9s %9s %9s %6s %9s %8s%s%s\n", "variant", "", "val nats", "bits/B", "vs fp", "gap closed",
              "steps", "tokens", "seconds", ft_holder ? "   ft nats" : "",
              o.split_halves ? (ft_holder ? "       sel    ft sel" : "       sel") : "");
  for (const auto& rw : all_rows) {
    if (!rw.r->ran) {
      std::printf("%-11s %-33s %9s\n", rw.key, rw.what, "skipped");
      continue;
    }
    const double rel = (rw.r->val_loss - r_fp.val_loss) / r_fp.val_loss * 100.0;
    // "gap closed" needs ptq and a positive PTQ-to-FP gap; '-' otherwise.
    char closed[32] = "-";
    if (gap > 0) std::snprintf(closed, sizeof closed, "%.1f%%", (r_ptq.val_loss - rw.r->val_loss) / gap * 100.0);
    char ft_col[32] = "";
    if (ft_holder) std::snprintf(ft_col, sizeof ft_col, " %9.4f", rw.r->ft_val_loss);
    char sel_col[32] = "";
    if (o.split_halves && ft_holder)
      std::snprintf(sel_col, sizeof sel_col, " %9.4f %9.4f", rw.r->select_loss, rw.r->ft_select_loss);
    else if (o.split_halves)
      std::snprintf(sel_col, sizeof sel_col, " %9.4f", rw.r->select_loss);
    std::printf("%-11s %-33s %9.4f %9.4f %+8.2f%% %10s %6lld %9lld %8.1f%s%s\n", rw.key, rw.what, rw.r->val_loss,
                rw.r->bits(), rel, closed, static_cast<long long>(rw.r->steps), static_cast<long long>(rw.r->tokens),
                rw.r->seconds, ft_col, sel_col);
  }
  for (const deployment* d : {dep ? &*dep : nullptr, dep_best ? &*dep_best : nullptr}) {
    if (!d) continue;
    std::printf("\ndeploy %s: frozen to %s (%s head), %.2f bits per linear weight, %llu bytes in %s\n", d->variant.c_str(),
                d->format.c_str(), d->head.c_str(), d->bits_per_weight, static_cast<unsigned long long>(d->model_bytes),
                d->file.c_str());
    std::printf("  validation %.4f nats/byte on the kernels (reloaded file); fake-quantized training model %.4f\n",
                d->val_loss, d->fake_quant_val_loss);
    std::printf("  prefill %.0f tokens/s, decode %.0f tokens/s (%d thread%s, kernels %s)\n", d->prefill_tps, d->decode_tps,
                o.threads, o.threads == 1 ? "" : "s", d->path.c_str());
    std::printf("  sample: %s\n", printable(d->sample).c_str());
  }
  if (!best_key.empty())
    std::printf("\nbest ternary variant by validation loss%s: %s%s\n", ft_holder ? " on the pretraining corpus" : "",
                best_key.c_str(),
                best_key == "paper" ? " (the paper's recipe)" : (r_paper.ran ? " (not the paper's recipe)" : ""));
  std::string best_ft_key;
  if (ft_holder) {
    double best = INFINITY;
    for (const auto& rw : rows)  // the four fine-tuned variants, as for the pretraining corpus
      if (rw.r->ran && rw.r != &r_fp && rw.r != &r_ptq && rw.r->ft_val_loss < best) {
        best = rw.r->ft_val_loss;
        best_ft_key = rw.key;
      }
    if (!best_ft_key.empty())
      std::printf("best ternary variant by validation loss on the fine-tuning corpus: %s%s\n", best_ft_key.c_str(),
                  best_ft_key == "paper" ? " (the paper's recipe)" : "");
  }
  std::printf("total %.1f s\n", total_seconds);

  std::string json = "{\"tern_demo\":{";
  for (const auto& rw : all_rows) {
    if (!rw.r->ran) {
      json += std::string("\"") + rw.key + "\":null,";
      continue;
    }
    json += std::string("\"") + rw.key + "\":{\"val_loss\":" + json_number(rw.r->val_loss) +
            ",\"bits_per_byte\":" + json_number(rw.r->bits()) + ",\"steps\":" + std::to_string(rw.r->steps) +
            ",\"tokens\":" + std::to_string(rw.r->tokens) + ",\"seconds\":" + json_number(rw.r->seconds) +
            (ft_holder ? ",\"ft_val_loss\":" + json_number(rw.r->ft_val_loss) : std::string()) +
            (o.split_halves ? ",\"select_loss\":" + json_number(rw.r->select_loss) : std::string()) +
            (o.split_halves && ft_holder ? ",\"ft_select_loss\":" + json_number(rw.r->ft_select_loss) : std::string()) +
            "},";
  }
  json += "\"corpus\":{\"name\":\"" + tern::detail::json_escape(corpus.name()) + "\",\"bytes\":" +
          std::to_string(corpus.size()) + ",\"train_bytes\":" + std::to_string(corpus.train_size()) +
          ",\"validation_bytes\":" + std::to_string(corpus.validation_size()) +
          (source ? ",\"entropy_bits_per_byte\":" + json_number(source->entropy_bits_per_byte()) : std::string()) + "},";
  if (ft_holder)
    json += "\"ft_corpus\":{\"name\":\"" + tern::detail::json_escape(ft.name()) + "\",\"bytes\":" + std::to_string(ft.size()) +
            ",\"train_bytes\":" + std::to_string(ft.train_size()) + ",\"validation_bytes\":" +
            std::to_string(ft.validation_size()) +
            (ft_source ? ",\"entropy_bits_per_byte\":" + json_number(ft_source->entropy_bits_per_byte()) : std::string()) +
            ",\"best\":" +
            (best_ft_key.empty() ? std::string("null") : "\"" + best_ft_key + "\"") + "},";
  json += "\"model\":{\"dim\":" + std::to_string(cfg.dim) + ",\"layers\":" + std::to_string(cfg.n_layers) +
          ",\"heads\":" + std::to_string(cfg.n_heads) + ",\"seq\":" + std::to_string(o.seq) +
          ",\"batch\":" + std::to_string(o.batch) + "},";
  json += "\"paper_schedule\":{\"ramp_end\":" + json_number(o.ramp_end) + ",\"ramp_len\":" + json_number(o.ramp_len) +
          ",\"order\":\"" + (o.order == tern::layer_order::first_to_last ? "first" : "last") + "\",\"shape\":\"" +
          shape_name + "\"},";
  json += "\"lr\":" + json_number(o.lr, "%.9g") + ",\"ft_lr\":" + json_number(o.ft_lr, "%.9g") + ",\"ft_steps\":" +
          std::to_string(o.ft_steps) + ",\"split\":\"" + (o.split_halves ? "halves" : "whole") + "\",";
  json += "\"deploy\":" + (dep ? deployment_json(*dep, dep_best ? &*dep_best : nullptr, best_key) : std::string("null")) + ",";
  json += "\"seed\":" + std::to_string(o.seed) + ",\"threads\":" + std::to_string(o.threads) +
          ",\"ranks\":" + std::to_string(comm.size()) +
          ",\"seconds\":" + json_number(total_seconds) + "}}";
  std::printf("%s\n", json.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  tern::dist::environment env(argc, argv);
  const tern::dist::communicator world = env.world();
  options o;
  try {
    o = parse(argc, argv);
  } catch (const std::invalid_argument& e) {
    // Every rank parses the same arguments the same way and none has communicated yet, so
    // every rank returns here: rank 0 reports.
    if (world.is_root()) std::cerr << "tern_demo: " << e.what() << "\n" << usage;
    return 2;
  }
  if (o.help) {
    if (world.is_root()) std::cout << usage;
    return 0;
  }
  // From here a rank may fail alone (a file only some machines have, memory): stop_all ends
  // every rank then, instead of leaving the others waiting for it.
  const std::string who = world.size() > 1 ? "tern_demo: rank " + std::to_string(world.rank()) + ": " : "tern_demo: ";
  try {
    return run(o, world);
  } catch (const std::invalid_argument& e) {
    std::cerr << who << e.what() << "\n" << (world.is_root() ? usage : "");
    return env.stop_all(2);
  } catch (const std::exception& e) {
    std::cerr << who << e.what() << "\n";
    return env.stop_all(1);
  }
}
