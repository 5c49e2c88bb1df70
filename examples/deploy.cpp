// The lifecycle in one file: fine-tune a ternary model with the paper's recipe, freeze it to the
// packed kernels, save it as a tern model file, load it back (memory-mapped) and generate text.
// docs/inference.md shows this code; CI builds and runs it.
#include <tern/tern.hpp>
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>

int main(int argc, char** argv) {
  if (argc > 1) {  // no options: --help says so, anything else is refused
    const bool help = argc == 2 && (std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h");
    std::fprintf(help ? stdout : stderr, "%susage: deploy   (takes no options)\n", help ? "" : "deploy: unknown arguments\n");
    return help ? 0 : 2;
  }
  // ---- train: a small byte-level model, the paper's policy, a few steps on a tiny corpus ----
  tern::transformer_config cfg;
  cfg.dim = 64;
  cfg.n_layers = 2;
  cfg.n_heads = 4;
  cfg.n_kv_heads = 2;  // grouped-query attention
  cfg.ffn_hidden = 160;
  cfg.max_seq = 32;
  std::string text;
  for (int i = 0; i < 200; ++i) text += "the ternary cat sat on the ternary mat. ";
  const tern::byte_corpus corpus(std::vector<std::uint8_t>(text.begin(), text.end()), "cats", 0.1, cfg.max_seq + 1);
  tern::transformer<float, tern::extra_norm_policy> model(cfg, /*seed=*/1);
  tern::adamw<float> opt({.lr = 3e-3});
  tern::cross_entropy<float> ce;
  tern::rng data(7);
  for (int step = 0; step < 60; ++step) {
    model.set_lambda(std::min(1.0, step / 30.0));  // the gradual ramp, then fully ternary
    model.zero_grad();
    tern::lm_step(model, corpus.sample_train(8, cfg.max_seq, data), ce);
    opt.step(model);
  }
  model.set_lambda(1.0);

  // ---- freeze, save, load ----
  const tern::infer::inference_model frozen = tern::infer::freeze(model, {.ternary = tern::infer::weight_format::tq2});
  tern::save_model("deploy_example.tern", frozen);
  const tern::infer::inference_model loaded = tern::load_model("deploy_example.tern");  // mmap by default
  std::cout << "frozen: " << loaded.bits_per_linear_weight() << " bits per linear weight, " << loaded.resident_bytes()
            << " bytes\n";

  // ---- generate: a session per generation, the kernels' thread pool shared ----
  tern::kernels::thread_pool pool(2);
  tern::infer::session session(loaded);  // the best kernel path this CPU runs
  const std::string prompt = "the ternary ";
  const std::vector<tern::token> tokens(prompt.begin(), prompt.end());
  tern::infer::generate_options opts;
  opts.max_new_tokens = 40;
  opts.sampling = {.temperature = 0.0};  // greedy
  std::cout << prompt;
  const tern::infer::generate_stats st = tern::infer::generate(
      session, tokens, opts, [](tern::token t) { std::cout << char(t) << std::flush; }, pool);
  std::cout << "\nprefill " << st.prefill_tokens_per_s() << " tokens/s, decode " << st.decode_tokens_per_s() << " tokens/s\n";
}
