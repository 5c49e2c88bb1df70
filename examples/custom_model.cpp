// A user-defined model, composed at compile time from tern's layers (walk-through in
// docs/composition.md):
//   1. a user projection (per-channel ternary weights, half-up rounding, gain-free extra norm),
//   2. a user model policy (which projection goes where, which norms, which head),
//   3. a user schedule (a quadratic, layer-wise ramp),
//   4. a user model type mixing blocks of two policies (an FP first block, ternary after it),
// then: train a small FP transformer, copy its weights into the user policy's model and
// fine-tune it to ternary with the user schedule. Plain SGD keeps the example self-contained.
//   usage: custom_model [--steps N]      (default 150; ctest runs it with a few steps)
#include <tern/tern.hpp>
#include <tern/nn/cross_entropy.hpp>
#include <tern/nn/transformer.hpp>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <span>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

// The presets: every variant of the method is its own type.
using fp_model = tern::transformer<float, tern::fp_policy>;              // full precision
using bitnet_model = tern::transformer<float, tern::qat_policy>;         // BitNet b1.58 QAT
using paper_model = tern::transformer<float, tern::extra_norm_policy>;   // + extra RMSNorm
using subln_model = tern::transformer<float, tern::subln_policy>;        // BitNet's SubLN
using ternary_head_model =
    tern::transformer<float, tern::with_head<tern::extra_norm_policy, tern::ternary_projection>>;
static_assert(!std::is_same_v<paper_model, bitnet_model>);

// 1. A projection: any WeightQ / ActQ quantizer and any input norm template.
using my_projection = tern::projection<tern::absmean_ternary<tern::per_channel, tern::round_half_up>,
                                       tern::absmax_int8<tern::round_half_up>, tern::plain_rms_norm>;

// 2. A policy is any struct with these members; here the down projection keeps a learned gain.
struct my_policy {
  using attn_in = my_projection;                          // q, k, v
  using attn_out = my_projection;                         // o
  using mlp_in = my_projection;                           // gate, up
  using mlp_out = tern::ternary_extra_norm_projection;    // down
  using head = tern::fp_projection;                       // LM head stays full precision
  template <class T> using norm = tern::learned_rms_norm<T>;        // block pre-norms
  template <class T> using final_norm = tern::learned_rms_norm<T>;  // before the head
};
static_assert(tern::ModelPolicy<my_policy>);

// 3. A schedule is any type with lambda(step, layer) -> double in [0, 1].
struct quadratic_layer_ramp {
  double steps, delay;
  double lambda(std::int64_t step, int layer) const {
    const double t = std::clamp((double(step) - delay * layer) / steps, 0.0, 1.0);
    return t * t;
  }
};
static_assert(tern::Schedule<quadratic_layer_ramp>);

// 4. A model type of one's own: an FP first block and a ternary second block.
template <class T>
struct two_speed_lm {
  using scalar = T;
  tern::embedding<T> embed;
  tern::transformer_block<T, tern::fp_policy> first;
  tern::transformer_block<T, tern::extra_norm_policy> second;
  tern::rms_norm<T> norm;
  tern::fp_linear<T> head;

  two_speed_lm(tern::index vocab, tern::index dim, tern::index max_seq)
      : embed(vocab, dim), first(dim, 2, 1, 2 * dim, max_seq), second(dim, 2, 1, 2 * dim, max_seq),
        norm(dim), head(dim, vocab) {}

  tern::matrix<T> forward(std::span<const tern::token> tokens, tern::index seq) {
    return head.forward(norm.forward(second.forward(first.forward(embed.forward(tokens), seq), seq)));
  }
  void backward(const tern::matrix<T>& dlogits) {
    embed.backward(first.backward(second.backward(norm.backward(head.backward(dlogits)))));
  }
  template <class F>
  void for_each_parameter(F&& f) {
    tern::visit_prefixed(embed, "embed", f);
    tern::visit_prefixed(first, "layers.0", f);
    tern::visit_prefixed(second, "layers.1", f);
    tern::visit_prefixed(norm, "norm", f);
    tern::visit_prefixed(head, "head", f);
  }
};

namespace {
const std::string corpus =
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, "
    "must be in want of a wife. ";

// Random windows of the corpus: inputs and next-byte targets, batch x seq each.
void sample(std::mt19937_64& rng, tern::index batch, tern::index seq, std::vector<tern::token>& in,
            std::vector<tern::token>& target) {
  in.clear();
  target.clear();
  std::uniform_int_distribution<std::size_t> start(0, corpus.size() - std::size_t(seq) - 2);
  for (tern::index b = 0; b < batch; ++b) {
    const std::size_t s = start(rng);
    for (tern::index i = 0; i < seq; ++i) {
      in.push_back(tern::token(static_cast<unsigned char>(corpus[s + std::size_t(i)])));
      target.push_back(tern::token(static_cast<unsigned char>(corpus[s + std::size_t(i) + 1])));
    }
  }
}

// One step of SGD with momentum on any model with forward(tokens, seq) / backward / for_each_parameter.
template <class Model>
float sgd_step(Model& m, std::vector<std::vector<float>>& momentum, std::mt19937_64& rng, float lr) {
  std::vector<tern::token> in, target;
  sample(rng, 8, 24, in, target);
  tern::cross_entropy<float> ce;
  m.for_each_parameter([](std::string_view, tern::parameter<float>& p) { p.zero_grad(); });
  const float loss = ce.forward(m.forward(in, 24), target);
  m.backward(ce.backward());
  std::size_t i = 0;
  m.for_each_parameter([&](std::string_view, tern::parameter<float>& p) {
    if (momentum.size() <= i) momentum.emplace_back(std::size_t(p.value.size()), 0.0f);
    for (tern::index j = 0; j < p.value.size(); ++j) {
      momentum[i][std::size_t(j)] = 0.9f * momentum[i][std::size_t(j)] + p.grad.data()[j];
      p.value.data()[j] -= lr * momentum[i][std::size_t(j)];
    }
    ++i;
  });
  return loss;
}
}  // namespace

int main(int argc, char** argv) {
  const char* usage = "usage: custom_model [--steps N]   (N in [1, 100000], default 150)\n";
  long steps = 150;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") { std::fputs(usage, stdout); return 0; }
    if (a != "--steps") { std::fprintf(stderr, "custom_model: unknown option '%s'\n%s", argv[i], usage); return 2; }
    if (i + 1 >= argc) { std::fprintf(stderr, "custom_model: --steps needs a value\n%s", usage); return 2; }
    const std::string v = argv[++i];
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), steps);
    // Bound: three SGD loops of N steps each; 10^5 steps is hours on a laptop.
    if (ec != std::errc() || end != v.data() + v.size() || steps < 1 || steps > 100000) {
      std::fprintf(stderr, "custom_model: --steps '%s' is not an integer in [1, 100000]\n%s", v.c_str(), usage);
      return 2;
    }
  }
  // A model this small runs fastest on one thread (Eigen's threads only pay off for larger
  // products); larger models keep Eigen's default, every core.
  Eigen::setNbThreads(1);

  tern::transformer_config cfg;
  cfg.dim = 32; cfg.n_layers = 2; cfg.n_heads = 4; cfg.n_kv_heads = 2; cfg.ffn_hidden = 64; cfg.max_seq = 24;

  // Full-precision pre-training.
  fp_model fp(cfg, /*seed=*/1);
  std::mt19937_64 rng(2);
  std::vector<std::vector<float>> mom;
  float loss = 0;
  for (long s = 0; s < steps; ++s) loss = sgd_step(fp, mom, rng, 0.3f);
  std::printf("FP model, %ld parameters: loss %.3f nats/byte after %ld steps\n", long(fp.parameter_count()), loss, steps);

  // Fine-tune to ternary: same config, the user policy, weights copied by name; the extra
  // norms start with gain 1 (they change the function, so the loss first rises).
  tern::transformer<float, my_policy> tq(cfg, /*seed=*/1);
  tq.copy_parameters_from(fp);
  const quadratic_layer_ramp schedule{double(steps) / 2, double(steps) / 4};
  mom.clear();
  for (long s = 0; s < steps; ++s) {
    tq.set_lambda(schedule, s);  // block l: lambda = schedule.lambda(s, l)
    loss = sgd_step(tq, mom, rng, 0.3f);
    if (s % std::max(1L, steps / 5) == 0 || s == steps - 1)
      std::printf("  step %4ld  lambda %.2f %.2f  loss %.3f\n", s, tq.lambda(0), tq.lambda(1), loss);
  }

  // The mixed-precision model type of one's own.
  two_speed_lm<float> mixed(256, 32, 24);
  std::size_t n = 0;
  mixed.for_each_parameter([&](std::string_view name, tern::parameter<float>& p) {
    p.value = 0.02f * tern::matrix<float>::Random(p.value.rows(), p.value.cols());
    if (name.ends_with("gain")) p.value.setOnes();
    ++n;
  });
  mom.clear();
  for (long s = 0; s < steps; ++s) loss = sgd_step(mixed, mom, rng, 0.3f);
  std::printf("two_speed_lm (%zu tensors, FP block + ternary block): loss %.3f\n", n, loss);
  return 0;
}
