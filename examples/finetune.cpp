// tern_finetune: fine-tune a full-precision Hugging Face Llama-family checkpoint into a ternary
// model with the recipe of Steinmetz et al. 2025 (an extra RMSNorm on every projection input and
// a gradual layer-wise quantization schedule), on the user's own text.
//
//   tern_finetune --model HFDIR --corpus FILE --steps N --out MODEL.tern [options]
//     1. reads HFDIR/config.json, its safetensors weights and its tokenizer (tokenizer.json or
//        tokenizer.model), and tokenizes FILE (90% train, 10% validation);
//     2. builds the student of --policy from the imported weights (extra norms start at gain 1);
//     3. validation loss of the FP model and of the student quantized without training (PTQ);
//     4. trains N steps (progress lines; a checkpoint every --checkpoint-every steps that
//        --resume continues bit for bit); --kd distils from the FP model instead of the corpus;
//     5. validation loss after, fully ternary; freeze to packed 2-bit weights and save MODEL.tern
//        with the tokenizer in MODEL.tern.tokenizer/ (tern_generate --model MODEL.tern runs it).
//   tern_finetune --make-tiny-checkpoint DIR [--corpus FILE] [--pretrain-steps N]
//     writes a small Llama (GQA, untied head) in the Hugging Face layout with a byte-level BPE
//     tokenizer trained on FILE (or a built-in text), optionally trained N steps first: a
//     checkpoint to try every step of this program on (README, docs/huggingface.md).
//
// Prints progress on stderr and a summary on stdout, ending with one {"tern_finetune": ...} line.
#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli_number.hpp"
#include "tern/hf.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

namespace fs = std::filesystem;
using tern::index;

const char* usage =
    "usage: tern_finetune --model HFDIR --corpus FILE --steps N --out MODEL.tern [options]\n"
    "       tern_finetune --make-tiny-checkpoint DIR [--corpus FILE] [--pretrain-steps N] [--seed N]\n"
    "Fine-tunes a Hugging Face Llama-family checkpoint (config.json, *.safetensors, tokenizer.json or\n"
    "tokenizer.model) into a ternary model, by default with the paper's recipe (extra RMSNorm on every\n"
    "projection + layer-wise lambda ramps).\n"
    "  --policy P         paper (default: extra norm + layer-wise ramp), qat_norm (extra norm, lambda 1\n"
    "                     from step 0), qat (BitNet b1.58 QAT, no extra norm, lambda 1 from step 0)\n"
    "  --kd               distil from the full-precision model (KL, temperature --kd-tau) instead of\n"
    "                     the next-token loss\n"
    "  --kd-tau X         distillation temperature (default 1)\n"
    "  --lr X             peak learning rate (default 3e-4); warmup 5%, cosine to lr/10\n"
    "  --seq S --batch B  window length and windows per step (default 128, 8)\n"
    "  --resume CKPT      continue a run from its checkpoint (same options)\n"
    "  --checkpoint PATH  where checkpoints go (default MODEL.tern.ckpt)\n"
    "  --bitnet-out DIR   also write the ternary model in the Hugging Face BitNet layout to DIR\n"
    "  --checkpoint-every N  checkpoint period in steps (default: steps / 4; 0: only at the end)\n"
    "  --stop-at N        stop after step N of the N-step schedule (checkpoint written; continue\n"
    "                     later with --resume)\n"
    "  --eval-windows N   validation windows (default 64; 0: the whole split)\n"
    "  --ramp-end F --ramp-len F  paper schedule, as tern_demo (default 0.25, 0.5)\n"
    "  --clip X --weight-decay X  (default 1, 0.01)\n"
    "  --seed N --threads N --log-every N  (default 1, 2, 10)\n"
    "  --make-tiny-checkpoint DIR  write a small random Llama + tokenizer in the HF layout and exit\n"
    "  --pretrain-steps N with --make-tiny-checkpoint: train it N steps on --corpus first (default 0)\n"
    "  --help             this text\n";

struct options {
  std::string model, corpus, out, resume, checkpoint, make_tiny, bitnet_out;
  std::string policy = "paper";
  bool kd = false;
  double kd_tau = 1.0, lr = 3e-4, clip = 1.0, weight_decay = 0.01, ramp_end = 0.25, ramp_len = 0.5;
  std::int64_t steps = 0, checkpoint_every = -1, log_every = 10, pretrain_steps = 0, stop_at = 0;
  index seq = 128, batch = 8, eval_windows = 64;
  std::uint64_t seed = 1;
  int threads = 2;
};

using tern_cli::check_above;
using tern_cli::check_range;
using tern_cli::parse_number;

options parse(int argc, char** argv) {
  options o;
  std::vector<std::string> args(argv + 1, argv + argc);
  bool steps_given = false, checkpoint_every_given = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      std::cout << usage;
      std::exit(0);
    }
    if (a == "--kd") {
      o.kd = true;
      continue;
    }
    if (a.rfind("--", 0) != 0) throw std::invalid_argument("unexpected argument '" + a + "' (see --help)");
    if (i + 1 >= args.size()) throw std::invalid_argument("option " + a + " needs a value (or is unknown)");
    const std::string& v = args[++i];
    if (a == "--model") o.model = v;
    else if (a == "--corpus") o.corpus = v;
    else if (a == "--out") o.out = v;
    else if (a == "--resume") o.resume = v;
    else if (a == "--checkpoint") o.checkpoint = v;
    else if (a == "--bitnet-out") o.bitnet_out = v;
    else if (a == "--make-tiny-checkpoint") o.make_tiny = v;
    else if (a == "--policy") {
      if (v != "paper" && v != "qat" && v != "qat_norm")
        throw std::invalid_argument("option --policy: '" + v + "' is not paper, qat_norm or qat");
      o.policy = v;
    } else if (a == "--steps") {
      o.steps = parse_number<std::int64_t>(a, v);
      steps_given = true;
    } else if (a == "--kd-tau") o.kd_tau = parse_number<double>(a, v);
    else if (a == "--lr") o.lr = parse_number<double>(a, v);
    else if (a == "--clip") o.clip = parse_number<double>(a, v);
    else if (a == "--weight-decay") o.weight_decay = parse_number<double>(a, v);
    else if (a == "--ramp-end") o.ramp_end = parse_number<double>(a, v);
    else if (a == "--ramp-len") o.ramp_len = parse_number<double>(a, v);
    else if (a == "--checkpoint-every") {
      o.checkpoint_every = parse_number<std::int64_t>(a, v);
      checkpoint_every_given = true;
    }
    else if (a == "--log-every") o.log_every = parse_number<std::int64_t>(a, v);
    else if (a == "--pretrain-steps") o.pretrain_steps = parse_number<std::int64_t>(a, v);
    else if (a == "--stop-at") o.stop_at = parse_number<std::int64_t>(a, v);
    else if (a == "--seq") o.seq = parse_number<index>(a, v);
    else if (a == "--batch") o.batch = parse_number<index>(a, v);
    else if (a == "--eval-windows") o.eval_windows = parse_number<index>(a, v);
    else if (a == "--seed") o.seed = parse_number<std::uint64_t>(a, v);
    else if (a == "--threads") o.threads = parse_number<int>(a, v);
    else throw std::invalid_argument("unknown option " + a + " (see --help)");
  }
  if (o.make_tiny.empty()) {
    if (o.model.empty()) throw std::invalid_argument("--model HFDIR is required (see --help)");
    if (o.corpus.empty()) throw std::invalid_argument("--corpus FILE is required");
    if (o.out.empty()) throw std::invalid_argument("--out MODEL.tern is required");
    if (!steps_given || o.steps <= 0) throw std::invalid_argument("--steps N (N > 0) is required");
  } else {
    for (const std::string& a : args)
      if (a.rfind("--", 0) == 0 && a != "--make-tiny-checkpoint" && a != "--corpus" && a != "--pretrain-steps" &&
          a != "--seed" && a != "--threads" && a != "--seq")
        throw std::invalid_argument("--make-tiny-checkpoint takes only --corpus, --pretrain-steps, --seed, --threads, --seq (not " +
                                    a + ")");
  }
  // Bounds, each with its reason: they keep every derived size inside int64 and memory.
  constexpr std::int64_t max_steps = 100'000'000;
  if (o.make_tiny.empty()) check_range("--steps", o.steps, std::int64_t(1), max_steps, "10^8 steps take days even for a tiny model");
  check_range("--seq", o.seq, index(1), index(8192), "attention keeps a seq x seq score matrix per head: 256 MiB at 8192");
  check_range("--batch", o.batch, index(1), index(65536), "a batch beyond 65536 windows does not fit any step's activations");
  check_range("--batch x --seq", o.batch * o.seq, index(1), index(1) << 20,
              "one step's activations take tens of floats per token, layer and feature");
  check_range("--threads", o.threads, 1, 1024, "more threads than cores only adds contention");
  check_above("--lr", o.lr, 0.0, 1.0, "AdamW moves each weight by about lr per step; beyond 1 training diverges");
  check_above("--clip", o.clip, 0.0, 1e6, "a gradient-norm limit; 1e6 is no limit at all");
  check_above("--kd-tau", o.kd_tau, 0.0, 100.0, "beyond 100 the softened teacher is uniform to float precision");
  check_range("--weight-decay", o.weight_decay, 0.0, 1.0, "decoupled decay multiplies each weight by 1 - lr x wd per step");
  check_range("--eval-windows", o.eval_windows, index(0), index(1) << 24, "0 means the whole split");
  check_range("--log-every", o.log_every, std::int64_t(0), max_steps, "a period in steps; 0: no progress lines");
  check_range("--pretrain-steps", o.pretrain_steps, std::int64_t(0), max_steps, "10^8 steps take days");
  if (checkpoint_every_given)
    check_range("--checkpoint-every", o.checkpoint_every, std::int64_t(0), max_steps, "a period in steps; 0: only at the end");
  check_above("--ramp-end", o.ramp_end, 0.0, 1.0, "a fraction of --steps");
  check_above("--ramp-len", o.ramp_len, 0.0, 1.0, "a fraction of the ramp window");
  if (o.stop_at < 0 || o.stop_at > o.steps) throw std::invalid_argument("--stop-at must be in [0, --steps]");
  if (!checkpoint_every_given) o.checkpoint_every = std::max<std::int64_t>(1, o.steps / 4);
  if (o.checkpoint.empty()) o.checkpoint = o.out + ".ckpt";
  return o;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open '" + path + "'");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string model_tag(const std::string& policy, const tern::transformer_config& c) {
  return "tern_finetune policy=" + policy + " vocab=" + std::to_string(c.vocab) + " dim=" + std::to_string(c.dim) +
         " layers=" + std::to_string(c.n_layers) + " heads=" + std::to_string(c.n_heads) +
         " kv_heads=" + std::to_string(c.n_kv_heads) + " ffn=" + std::to_string(c.ffn_hidden) +
         " max_seq=" + std::to_string(c.max_seq);
}

// ---- the last step ----
// Freezes the fine-tuned model (every ternary projection packed as 2-bit tq2, the head FP32) and
// writes MODEL.tern (tern's model file, docs/model_file.md) with the checkpoint's tokenizer files
// in MODEL.tern.tokenizer/, where tern_generate finds them; with --bitnet-out DIR also the Hugging
// Face BitNet layout (hf/bitnet_export.hpp).
template <class Model>
std::string freeze_and_save(const options& o, Model& model, const tern::hf::llama_config& config) {
  model.set_lambda(1.0);
  tern::save_model(o.out, tern::infer::freeze(model));
  const fs::path tok_dir = o.out + ".tokenizer";
  fs::create_directories(tok_dir);
  // The target holds exactly the checkpoint's tokenizer files: one left from an earlier run
  // (a tokenizer.json beside a new tokenizer.model) would be loaded instead.
  auto copy_tokenizer = [&](const fs::path& to) {
    for (const char* f : {"tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json"}) {
      fs::remove(to / f);
      if (fs::exists(fs::path(o.model) / f)) fs::copy_file(fs::path(o.model) / f, to / f);
    }
  };
  copy_tokenizer(tok_dir);
  std::cerr << "saved: " << o.out << " (tokenizer in " << tok_dir.string() << "/)\n";
  if (!o.bitnet_out.empty()) {
    tern::hf::export_bitnet(o.bitnet_out, model, config);
    copy_tokenizer(o.bitnet_out);
    std::cerr << "saved: " << o.bitnet_out << "/ (Hugging Face BitNet layout)\n";
  }
  return o.out;
}

struct run_result {
  double fp_loss = 0, ptq_loss = 0, final_loss = 0, seconds = 0;
  std::int64_t steps = 0, tokens = 0, skipped = 0;
  std::string saved;
  bool stopped = false;  // --stop-at: no final evaluation, nothing saved but the checkpoint
};

template <class Policy>
run_result fine_tune(const options& o, const tern::hf::llama_config& config, tern::transformer<float>& fp,
                     const tern::token_corpus& corpus) {
  const tern::transformer_config cfg = fp.config();
  const auto starts = corpus.validation_starts(o.seq, o.eval_windows);
  run_result r;
  r.fp_loss = tern::evaluate_lm(fp, corpus, starts, o.seq);
  tern::transformer<float, Policy> m(cfg, o.seed);
  m.copy_parameters_from(fp);
  m.set_lambda(1.0);
  r.ptq_loss = tern::evaluate_lm(m, corpus, starts, o.seq);
  std::cerr << "validation before: fp " << r.fp_loss << " nats/token, " << o.policy << " quantized without training "
            << r.ptq_loss << "\n";

  // The paper's schedule: block pos(l) ramps lambda linearly 0 -> 1 over `ramp` steps starting
  // at pos(l) * delay; the last block is fully ternary at ramp_end x steps.
  const std::int64_t window = std::max<std::int64_t>(1, std::llround(o.ramp_end * double(o.steps)));
  const std::int64_t ramp = std::max<std::int64_t>(1, std::llround(o.ramp_len * double(window)));
  const std::int64_t delay = cfg.n_layers > 1 ? (window - ramp) / (cfg.n_layers - 1) : 0;
  const tern::layer_wise<tern::linear_warmup> schedule(tern::linear_warmup(ramp), int(cfg.n_layers), 0, delay);
  const bool gradual = o.policy == "paper";

  tern::adamw_config ac;
  ac.lr = o.lr;
  ac.beta2 = 0.99;
  ac.weight_decay = o.weight_decay;
  tern::adamw<float> opt(ac);
  const tern::lr_schedule lr(o.lr, std::max<std::int64_t>(1, o.steps / 20), o.steps, o.lr / 10);
  tern::rng data_rng(o.seed * 1000003 + 2);
  tern::train_state state;
  const std::string tag = model_tag(o.policy + (o.kd ? "+kd" : ""), cfg);
  if (!o.resume.empty()) {
    tern::load_checkpoint(o.resume, m, tag, &opt, &state);
    data_rng.set_state(state.rng_state);
    std::cerr << "resumed from " << o.resume << " at step " << state.step << "\n";
  }
  tern::cross_entropy<float> ce;
  tern::kd_loss<float> kd(o.kd_tau);
  auto step = [&](std::int64_t t) -> double {
    if (gradual) m.set_lambda(schedule, t);
    else m.set_lambda(1.0);
    const tern::token_batch b = corpus.sample_train(o.batch, o.seq, data_rng);
    return o.kd ? tern::kd_step(m, fp, b, kd) : tern::lm_step(m, b, ce);
  };
  tern::trainer_options to;
  to.tokens_per_step = o.batch * o.seq;
  to.clip = o.clip;
  to.log_every = o.log_every;
  to.label = o.policy + (o.kd ? "+kd" : "");
  to.log = &std::cerr;
  to.lambda_of = [&](std::int64_t) {
    double s = 0;
    for (index l = 0; l < m.n_layers(); ++l) s += m.lambda(l);
    return s / double(m.n_layers());
  };
  const auto t0 = std::chrono::steady_clock::now();
  const std::int64_t last = o.stop_at > 0 ? o.stop_at : o.steps;
  while (state.step < last) {
    const std::int64_t next = o.checkpoint_every > 0 ? std::min(last, (state.step / o.checkpoint_every + 1) * o.checkpoint_every) : last;
    to.end_step = next;
    const tern::train_report rep = tern::train(m, opt, lr, state, step, to);
    r.skipped += rep.skipped;
    state.rng_state = data_rng.state();
    tern::save_checkpoint(o.checkpoint, m, tag, &opt, &state);
    std::cerr << "checkpoint: " << o.checkpoint << " at step " << state.step << "\n";
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.steps = state.step;
  r.tokens = state.tokens;
  if (state.step < o.steps) {
    std::cerr << "stopped at step " << state.step << " of " << o.steps << "; continue with --resume " << o.checkpoint << "\n";
    r.stopped = true;
    return r;
  }
  m.set_lambda(1.0);
  r.final_loss = tern::evaluate_lm(m, corpus, starts, o.seq);
  std::cerr << "validation after: " << r.final_loss << " nats/token (fully ternary)\n";
  r.saved = freeze_and_save(o, m, config);
  return r;
}

// ---- --make-tiny-checkpoint ----
const char* builtin_text =
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\nFirst Citizen:\n"
    "You are all resolved rather to die than to famish?\n\nAll:\nResolved. resolved.\n\nFirst Citizen:\n"
    "First, you know Caius Marcius is chief enemy to the people.\n\nAll:\nWe know't, we know't.\n\n";

int make_tiny_checkpoint(const options& o) {
  const std::string text = o.corpus.empty() ? std::string(builtin_text) : slurp(o.corpus);
  fs::create_directories(o.make_tiny);
  const auto tok_json = tern::hf::train_byte_level_bpe(text.substr(0, 1 << 20), 256, {"<|endoftext|>"});
  {
    std::ofstream f(fs::path(o.make_tiny) / "tokenizer.json");
    f << tok_json.dump();
    std::ofstream c(fs::path(o.make_tiny) / "tokenizer_config.json");
    c << R"({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"})" << "\n";
    if (!f || !c) throw std::runtime_error("cannot write the tokenizer files into '" + o.make_tiny + "'");
  }
  const auto tok = tern::hf::load_tokenizer(o.make_tiny);
  tern::transformer_config cfg;
  cfg.vocab = tok.vocab_size();
  cfg.dim = 64;
  cfg.n_layers = 2;
  cfg.n_heads = 4;
  cfg.n_kv_heads = 2;  // grouped-query attention, as Llama 3 / SmolLM
  cfg.ffn_hidden = 176;
  cfg.max_seq = std::max<index>(256, o.seq);
  cfg.norm_eps = 1e-5;
  tern::transformer<float> m(cfg, o.seed);
  if (o.pretrain_steps > 0) {
    const index seq = std::min<index>(o.seq, 64);
    const tern::token_corpus corpus(tok.encode(text), cfg.vocab, o.corpus.empty() ? "built-in text" : o.corpus, 0.1, seq + 1);
    tern::adamw_config ac;
    ac.lr = 3e-3;
    ac.beta2 = 0.99;
    tern::adamw<float> opt(ac);
    const tern::lr_schedule lr(ac.lr, std::max<std::int64_t>(1, o.pretrain_steps / 20), o.pretrain_steps, ac.lr / 10);
    tern::rng r(o.seed);
    tern::train_state st;
    tern::cross_entropy<float> ce;
    tern::trainer_options to;
    to.end_step = o.pretrain_steps;
    to.tokens_per_step = 16 * seq;
    to.log_every = std::max<std::int64_t>(1, o.pretrain_steps / 5);
    to.label = "pretrain";
    to.log = &std::cerr;
    tern::train(m, opt, lr, st, [&](std::int64_t) { return tern::lm_step(m, corpus.sample_train(16, seq, r), ce); }, to);
  }
  auto config = tern::hf::llama_config::from_transformer_config(cfg);
  config.bos_token_id = config.eos_token_id = tok.eos_id();
  tern::hf::export_llama(o.make_tiny, m, config);
  std::cout << "wrote a tiny Llama (vocab " << cfg.vocab << ", dim " << cfg.dim << ", " << cfg.n_layers << " layers, "
            << cfg.n_heads << " heads / " << cfg.n_kv_heads << " kv heads, " << m.parameter_count()
            << " parameters) with its tokenizer to " << o.make_tiny << "/\n";
  return 0;
}

int run(const options& o) {
  tern::retain_heap();
#ifdef _OPENMP
  omp_set_num_threads(o.threads);
#endif
  Eigen::setNbThreads(o.threads);
  if (!o.make_tiny.empty()) return make_tiny_checkpoint(o);

  const tern::hf::llama_config config = tern::hf::read_llama_config(o.model);
  const tern::hf::any_tokenizer tok = tern::hf::load_tokenizer(o.model);
  if (tok.vocab_size() > config.vocab_size)
    throw std::runtime_error("the tokenizer has " + std::to_string(tok.vocab_size()) + " tokens but the model's vocab_size is " +
                             std::to_string(config.vocab_size));
  tern::hf::load_options lo;
  lo.max_seq = o.seq;
  tern::transformer<float> fp = tern::hf::load_llama<float>(o.model, lo);
  const tern::transformer_config& cfg = fp.config();
  if (o.seq > cfg.max_seq) throw std::runtime_error("--seq " + std::to_string(o.seq) + " exceeds max_position_embeddings");
  std::cerr << "model: " << o.model << ": vocab " << cfg.vocab << ", dim " << cfg.dim << ", " << cfg.n_layers << " layers, "
            << cfg.n_heads << " heads / " << cfg.n_kv_heads << " kv heads, ffn " << cfg.ffn_hidden << ", "
            << fp.parameter_count() << " parameters; tokenizer: " << tok.kind() << "\n";
  const auto t0 = std::chrono::steady_clock::now();
  const tern::token_corpus corpus = tern::token_corpus::from_file(o.corpus, tok, 0.1, o.seq + 1, cfg.vocab);
  std::cerr << "corpus: " << corpus.name() << ": " << corpus.size() << " tokens (" << corpus.train_size() << " train, "
            << corpus.validation_size() << " validation), tokenized in "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s\n";

  run_result r;
  if (o.policy == "paper") r = fine_tune<tern::extra_norm_policy>(o, config, fp, corpus);
  else if (o.policy == "qat_norm") r = fine_tune<tern::extra_norm_policy>(o, config, fp, corpus);
  else r = fine_tune<tern::qat_policy>(o, config, fp, corpus);

  if (r.stopped) {
    std::printf("{\"tern_finetune\":{\"stopped_at\":%lld,\"checkpoint\":\"%s\"}}\n", static_cast<long long>(r.steps),
                tern::detail::json_escape(o.checkpoint).c_str());
    return 0;
  }
  std::printf("tern_finetune: %s on %s, policy %s%s, %lld steps, %lld tokens, %.1f s\n", o.model.c_str(), o.corpus.c_str(),
              o.policy.c_str(), o.kd ? " + kd" : "", static_cast<long long>(r.steps), static_cast<long long>(r.tokens),
              r.seconds);
  std::printf("validation loss (nats/token): fp %.4f  ptq %.4f  fine-tuned ternary %.4f\n", r.fp_loss, r.ptq_loss, r.final_loss);
  std::printf("{\"tern_finetune\":{\"fp\":%.6f,\"ptq\":%.6f,\"final\":%.6f,\"steps\":%lld,\"tokens\":%lld,\"skipped\":%lld,"
              "\"policy\":\"%s\",\"kd\":%s,\"saved\":\"%s\"}}\n",
              r.fp_loss, r.ptq_loss, r.final_loss, static_cast<long long>(r.steps), static_cast<long long>(r.tokens),
              static_cast<long long>(r.skipped), o.policy.c_str(), o.kd ? "true" : "false",
              tern::detail::json_escape(r.saved).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::invalid_argument& e) {
    std::cerr << "tern_finetune: " << e.what() << "\n" << usage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "tern_finetune: " << e.what() << "\n";
    return 1;
  }
}
