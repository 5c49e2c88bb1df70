// Every training piece on a small model, as docs/training.md shows it: the built-in corpus,
// a layer-wise schedule, the loop with progress lines, and a checkpoint that resumes the run
// bit for bit. Runs in a few seconds; CI runs it.
//
// Data parallel as it stands: under `mpirun -np R` (built with tern::mpi) every rank draws the
// same global batch, trains on its shard, and the gradients are averaged; rank 0 writes the
// checkpoint and sends it to every rank on loading, and alone prints. Without MPI, or on one
// rank, the shard is the whole batch and the averager does nothing.
#include <tern/tern.hpp>  // tern/dist/ included

#include <cstdio>
#include <iostream>
#include <string_view>

namespace {

int run(const tern::dist::communicator& comm) {
  const tern::index B = 4, S = 32;
  const tern::markov_source source;  // the built-in synthetic corpus (entropy known exactly)
  const tern::byte_corpus corpus(source.generate(1 << 16, /*seed=*/7), "markov", 0.1, S + 1);
  tern::rng data_rng(1);

  tern::transformer_config cfg;
  cfg.dim = 32, cfg.n_layers = 2, cfg.n_heads = 2, cfg.n_kv_heads = 2, cfg.ffn_hidden = 64, cfg.max_seq = S;
  tern::transformer<float, tern::extra_norm_policy> model(cfg, /*seed=*/1);
  const tern::layer_wise<> schedule(tern::linear_warmup(100), cfg.n_layers, /*start=*/0, /*delay=*/50);
  tern::cross_entropy<float> ce;

  tern::adamw<float> opt({.lr = 3e-3, .weight_decay = 0.01});
  tern::lr_schedule lr(3e-3, /*warmup*/ 50, /*total*/ 400, /*floor*/ 3e-4);
  tern::train_state st;
  tern::trainer_options o{.end_step = 200, .tokens_per_step = B * S, .clip = 1.0,
                          .log_every = 100, .label = "paper", .log = comm.is_root() ? &std::cerr : nullptr};
  tern::dist::gradient_averager<float> averager(comm);   // one rank: does nothing
  const auto step = [&](std::int64_t t) {
    model.set_lambda(schedule, t);                       // ternary models: lambda for step t
    auto global = corpus.sample_train(B, S, data_rng);   // the same global batch on every rank
    auto b = tern::dist::shard_batch(global, comm.rank(), comm.size());  // this rank's windows
    auto logits = model.forward(b.inputs, S);
    double loss = ce.forward(logits, b.targets);
    model.backward(ce.backward());                       // gradients accumulate
    return averager.average(model, loss, std::int64_t(b.inputs.size()));  // the global batch's
  };
  tern::train(model, opt, lr, st, step, o);

  // Save at step 200, train on to 400; then load the checkpoint and train 200 -> 400 again.
  st.rng_state = data_rng.state();
  tern::dist::save_checkpoint_on_root(comm, "train_loop.ckpt", model, "my model dim=32 layers=2", &opt, &st);
  o.end_step = 400;
  tern::train(model, opt, lr, st, step, o);
  const tern::matrix<float> straight = model.forward(corpus.sample_train(1, S, data_rng).inputs, S);

  tern::dist::load_checkpoint_from_root(comm, "train_loop.ckpt", model, "my model dim=32 layers=2", &opt, &st);
  data_rng.set_state(st.rng_state);  // the batches continue where they stopped
  tern::train(model, opt, lr, st, step, o);
  const tern::matrix<float> resumed = model.forward(corpus.sample_train(1, S, data_rng).inputs, S);
  if (comm.is_root()) std::remove("train_loop.ckpt");  // every rank has loaded it from rank 0's bytes

  const bool same = straight == resumed && averager.replicas_identical(model);
  if (comm.is_root())
    std::printf("step %ld, resumed run %s the uninterrupted one\n", long(st.step), same ? "is bit-identical to" : "DIFFERS from");
  return same ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  tern::dist::environment env(argc, argv);
  const tern::dist::communicator comm = env.world();
  if (argc > 1) {  // no options: --help says so, anything else is refused
    const bool help = argc == 2 && (std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h");
    if (comm.is_root()) std::fprintf(help ? stdout : stderr, "%susage: train_loop   (takes no options)\n", help ? "" : "train_loop: unknown arguments\n");
    return help ? 0 : 2;
  }
  try {
    return run(comm);
  } catch (const std::exception& e) {  // one rank failing alone ends every rank
    std::fprintf(stderr, "train_loop: rank %d: %s\n", comm.rank(), e.what());
    return env.stop_all(1);
  }
}
