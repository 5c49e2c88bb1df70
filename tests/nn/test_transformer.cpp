// Transformer blocks and the whole model: gradients against finite differences in double for
// every composition (FP, extra norm, SubLN, SubLN without pre-norms, ternary head), causality,
// seeded initialisation, copying FP weights into a ternary policy, layer-wise lambda, errors.
#include <catch2/catch.hpp>
#include <set>
#if defined(_OPENMP)
#include <omp.h>
#endif
#include <string>
#include <vector>

#include "support/gradcheck.hpp"
#include "tern/nn/cross_entropy.hpp"
#include "tern/nn/projection_policy.hpp"
#include "tern/nn/transformer.hpp"
#include "tern/nn/transformer_block.hpp"
#include "tern/optim/parameterized.hpp"
#include "tern/schedule/layer_wise.hpp"
#include "tern/schedule/linear_warmup.hpp"

using namespace tern_test;
using tern::token;

namespace {
// Fills every parameter with reproducible random values (gains around 1).
template <class L>
void randomize(L& layer, std::uint64_t seed) {
  layer.for_each_parameter([&](std::string_view name, tern::parameter<double>& p) {
    p.value = random_matrix(p.value.rows(), p.value.cols(), seed++, 0.5);
    if (name.ends_with("gain")) p.value.array() += 1.0;
  });
}

std::vector<std::string> names_of(auto& layer) {
  std::vector<std::string> names;
  layer.for_each_parameter([&](std::string_view n, auto&) { names.emplace_back(n); });
  return names;
}

tern::transformer_config tiny_config() {
  tern::transformer_config c;
  c.vocab = 11;
  c.dim = 8;
  c.n_layers = 2;
  c.n_heads = 2;
  c.n_kv_heads = 1;
  c.ffn_hidden = 12;
  c.max_seq = 4;
  return c;
}

struct lacks_mlp_out {  // a policy with a member missing
  using attn_in = tern::fp_projection;
  using attn_out = tern::fp_projection;
  using mlp_in = tern::fp_projection;
  using head = tern::fp_projection;
  template <class T> using norm = tern::learned_rms_norm<T>;
  template <class T> using final_norm = tern::learned_rms_norm<T>;
};
struct norm_not_a_layer : tern::fp_policy {  // norm<T> is not a Layer
  template <class T> using norm = int;
};
static_assert(tern::Parameterized<tern::transformer<float, tern::extra_norm_policy>>);  // what optimizers need
static_assert(!tern::ModelPolicy<lacks_mlp_out>);
static_assert(!tern::ModelPolicy<norm_not_a_layer>);
static_assert(tern::ModelPolicy<tern::with_block_norm<tern::fp_policy, tern::plain_rms_norm>>);

using subln_no_prenorm = tern::with_block_norm<tern::subln_policy, tern::no_norm>;
using ternary_head_policy = tern::with_head<tern::extra_norm_policy, tern::ternary_projection>;
}  // namespace

TEMPLATE_TEST_CASE("transformer_block: gradients match finite differences at lambda = 0", "[nn][block]",
                   tern::fp_policy, tern::extra_norm_policy, tern::subln_policy, subln_no_prenorm) {
  const ix seq = 3;
  tern::transformer_block<double, TestType> block(8, 2, 1, 12, seq);
  randomize(block, 100);
  block.set_lambda(0.0);
  check_layer_gradients(block, random_matrix(2 * seq, 8, 101),
                        [&](auto& l, const md& x) { return l.forward(x, seq); });
}

TEST_CASE("transformer_block: norm placement shows in the parameter names", "[nn][block]") {
  tern::transformer_block<double, tern::extra_norm_policy> paper(8, 2, 2, 12, 4);
  const auto pn = names_of(paper);
  const std::set<std::string> ps(pn.begin(), pn.end());
  for (const char* n : {"attn_norm.gain", "attn.q.weight", "attn.q.norm.gain", "attn.k.norm.gain", "attn.v.norm.gain",
                        "attn.o.norm.gain", "mlp_norm.gain", "mlp.gate.norm.gain", "mlp.up.norm.gain", "mlp.down.norm.gain"})
    CHECK(ps.count(n) == 1);
  CHECK(pn.size() == 2 + 7 * 2);

  tern::transformer_block<double, tern::subln_policy> subln(8, 2, 2, 12, 4);
  const auto sn = names_of(subln);
  CHECK(sn == std::vector<std::string>{"attn_norm.gain", "attn.q.weight", "attn.k.weight", "attn.v.weight",
                                       "attn.o.weight", "attn.o.norm.gain", "mlp_norm.gain", "mlp.gate.weight",
                                       "mlp.up.weight", "mlp.down.weight", "mlp.down.norm.gain"});
  tern::transformer_block<double, subln_no_prenorm> bare(8, 2, 2, 12, 4);
  CHECK(names_of(bare).size() == sn.size() - 2);
}

TEST_CASE("transformer_block: at lambda = 1 forward and backward run and stay finite", "[nn][block]") {
  tern::transformer_block<double, tern::extra_norm_policy> block(8, 2, 1, 12, 3);
  randomize(block, 110);
  block.set_lambda(1.0);
  const md x = random_matrix(6, 8, 111);
  const md y = block.forward(x, 3);
  CHECK(y.rows() == 6);
  CHECK(y.cols() == 8);
  CHECK(y.allFinite());
  const md dx = block.backward(random_matrix(6, 8, 112));
  CHECK(dx.allFinite());
  CHECK(dx.cwiseAbs().maxCoeff() > 0);
}

namespace {
// Finite-difference check of every parameter of a model through the cross-entropy loss.
template <class Model>
void check_model_gradients(Model& m, const std::vector<token>& in, const std::vector<token>& target, ix seq) {
  tern::cross_entropy<double> ce;
  m.zero_grad();
  ce.forward(m.forward(in, seq), target);
  m.backward(ce.backward());
  std::map<std::string, md> grads;
  m.for_each_parameter([&](std::string_view n, tern::parameter<double>& p) { grads[std::string(n)] = p.grad; });
  auto loss = [&] { return tern::cross_entropy<double>().forward(m.forward(in, seq), target); };
  m.for_each_parameter([&](std::string_view n, tern::parameter<double>& p) {
    INFO("parameter " << n);
    CHECK(rel_error(grads[std::string(n)], numeric_grad(p.value, loss)) < 1e-7);
  });
}
}  // namespace

TEMPLATE_TEST_CASE("transformer: every parameter gradient matches finite differences", "[nn][transformer]",
                   tern::fp_policy, ternary_head_policy) {
  tern::transformer<double, TestType> m(tiny_config(), 7);
  m.set_lambda(0.0);
  // larger than the default init so that the check is not dominated by the embedding/head path
  m.for_each_parameter([&, s = std::uint64_t(200)](std::string_view n, tern::parameter<double>& p) mutable {
    if (!n.ends_with("gain")) p.value = random_matrix(p.value.rows(), p.value.cols(), s++, 0.4);
  });
  const std::vector<token> in = {1, 5, 10, 0, 3, 3};
  const std::vector<token> target = {5, 10, 0, 2, 3, 7};
  check_model_gradients(m, in, target, 3);
}

TEST_CASE("transformer: causal, changing a later token does not change earlier logits", "[nn][transformer]") {
  auto cfg = tiny_config();
  cfg.max_seq = 5;
  tern::transformer<double, tern::extra_norm_policy> m(cfg, 3);
  m.set_lambda(0.5);
  tern::matrix<token> toks(2, 5);
  toks << 1, 2, 3, 4, 5, 6, 7, 8, 9, 10;
  const md a = m.forward(toks);
  REQUIRE(a.rows() == 10);
  REQUIRE(a.cols() == 11);
  toks(0, 3) = 0;
  const md b = m.forward(toks);
  CHECK((a.topRows(3) - b.topRows(3)).cwiseAbs().maxCoeff() == 0.0);
  CHECK((a.row(3) - b.row(3)).cwiseAbs().maxCoeff() > 1e-9);
  CHECK((a.bottomRows(5) - b.bottomRows(5)).cwiseAbs().maxCoeff() == 0.0);
}

TEST_CASE("transformer: seeded initialisation", "[nn][transformer]") {
  tern::transformer<double> a(tiny_config(), 42), b(tiny_config(), 42), c(tiny_config(), 43);
  tern::transformer<double, tern::extra_norm_policy> q(tiny_config(), 42);
  std::map<std::string, md> av, qv;
  a.for_each_parameter([&](std::string_view n, tern::parameter<double>& p) { av[std::string(n)] = p.value; });
  bool same_b = true, differs_c = false;
  b.for_each_parameter([&](std::string_view n, tern::parameter<double>& p) { same_b = same_b && p.value == av[std::string(n)]; });
  c.for_each_parameter([&](std::string_view n, tern::parameter<double>& p) {
    if (!n.ends_with("gain")) differs_c = differs_c || p.value != av[std::string(n)];
  });
  CHECK(same_b);
  CHECK(differs_c);
  // same seed, other policy: identical weights, extra gains at 1
  q.for_each_parameter([&](std::string_view n, tern::parameter<double>& p) {
    INFO(n);
    if (av.count(std::string(n))) CHECK(p.value == av[std::string(n)]);
    else CHECK((n.ends_with("gain") && p.value.isOnes()));
  });
  // statistics of the init: N(0, 0.02^2), residual projections scaled by 1/sqrt(2 L)
  tern::transformer_config big = tiny_config();
  big.vocab = 256;
  big.dim = 64;
  big.ffn_hidden = 128;
  tern::transformer<double> m(big, 1);
  const md& e = m.embed().weight().value;
  const double mean = e.mean(), sd = std::sqrt((e.array() - mean).square().mean());
  CHECK(std::abs(mean) < 0.001);
  CHECK(sd == Approx(0.02).epsilon(0.02));
  const md& down = m.layer(1).mlp().down().weight().value;
  CHECK(std::sqrt(down.array().square().mean()) == Approx(0.02 / 2.0).epsilon(0.03));
}

TEST_CASE("transformer: FP weights copied into ternary policies, by name", "[nn][transformer]") {
  tern::transformer<double> fp(tiny_config(), 5);
  tern::transformer<double, tern::qat_policy> qat(tiny_config(), 99);
  qat.copy_parameters_from(fp);
  fp.set_lambda(0.0);
  qat.set_lambda(0.0);
  const std::vector<token> toks = {1, 2, 3, 4, 5, 6};
  // same function at lambda = 0 (no extra norm): identical logits
  CHECK((fp.forward(toks, 3) - qat.forward(toks, 3)).cwiseAbs().maxCoeff() < 1e-14);

  tern::transformer<double, tern::extra_norm_policy> paper(tiny_config(), 99);
  paper.for_each_parameter([](std::string_view, tern::parameter<double>& p) { p.value.setConstant(3.0); });
  paper.copy_parameters_from(fp);
  std::map<std::string, md> fv;
  fp.for_each_parameter([&](std::string_view n, tern::parameter<double>& p) { fv[std::string(n)] = p.value; });
  std::size_t copied = 0, gains = 0;
  paper.for_each_parameter([&](std::string_view n, tern::parameter<double>& p) {
    INFO(n);
    if (fv.count(std::string(n))) {
      CHECK(p.value == fv[std::string(n)]);
      ++copied;
    } else {
      CHECK(p.value.isOnes());
      ++gains;
    }
  });
  CHECK(copied == fv.size());
  CHECK(gains == 2 * 7);  // one extra norm per projection, per layer

  // the way back would drop the extra gains: refused, naming the parameter
  CHECK_THROWS_WITH(fp.copy_parameters_from(paper), Catch::Contains("layers.0.attn.q.norm.gain"));
  bool untouched = true;  // a refused copy changes nothing
  fp.for_each_parameter([&](std::string_view n, tern::parameter<double>& p) { untouched = untouched && p.value == fv[std::string(n)]; });
  CHECK(untouched);
  auto other = tiny_config();
  other.ffn_hidden = 16;
  tern::transformer<double, tern::qat_policy> wrong(other, 1);
  CHECK_THROWS_AS(wrong.copy_parameters_from(fp), std::invalid_argument);
}

TEST_CASE("transformer: layer-wise schedules reach every projection of their layer", "[nn][transformer]") {
  auto cfg = tiny_config();
  cfg.n_layers = 3;
  tern::transformer<double, ternary_head_policy> m(cfg, 1);
  CHECK(m.lambda(0) == 1.0);  // bit_linear's default
  const tern::layer_wise<tern::linear_warmup> sched(tern::linear_warmup(10), 3, 0, 5);
  m.set_lambda(sched, 10);  // layer l: clamp((10 - 5 l) / 10, 0, 1)
  const double expect[3] = {1.0, 0.5, 0.0};
  for (ix l = 0; l < 3; ++l) {
    INFO("layer " << l);
    CHECK(m.lambda(l) == Approx(expect[l]));
    auto& b = m.layer(l);
    for (double got : {b.attn().q().lambda(), b.attn().k().lambda(), b.attn().v().lambda(), b.attn().o().lambda(),
                       b.mlp().gate().lambda(), b.mlp().up().lambda(), b.mlp().down().lambda()})
      CHECK(got == Approx(expect[l]));
  }
  CHECK(m.head().lambda() == Approx(0.0));  // the head follows the last layer
  m.set_lambda(0.25);
  CHECK(m.layer(2).mlp().down().lambda() == 0.25);
  CHECK(m.head().lambda() == 0.25);
  CHECK_THROWS_AS(m.set_lambda(1.5), std::invalid_argument);
}

TEST_CASE("transformer: float model trains a step without NaN at lambda = 1", "[nn][transformer]") {
  tern::transformer<float, tern::extra_norm_policy> m(tiny_config(), 2);
  tern::matrix<token> toks(2, 4);
  toks << 1, 2, 3, 4, 5, 6, 7, 8;
  const std::vector<token> target = {2, 3, 4, 5, 6, 7, 8, 9};
  tern::cross_entropy<float> ce;
  const float l0 = ce.forward(m.forward(toks), target);
  CHECK(l0 == Approx(std::log(11.0)).epsilon(0.05));  // near-uniform at init
  m.backward(ce.backward());
  bool finite = true;
  m.for_each_parameter([&](std::string_view, tern::parameter<float>& p) { finite = finite && p.grad.allFinite(); });
  CHECK(finite);
}

#if defined(_OPENMP)
TEST_CASE("transformer: results do not depend on the number of threads", "[nn][transformer]") {
  auto cfg = tiny_config();
  cfg.vocab = 256;
  cfg.dim = 32;
  cfg.max_seq = 32;  // 8 sequences x 2 heads x 32^2 x 16: above attention's threading threshold
  tern::transformer<float, tern::extra_norm_policy> m(cfg, 4);
  std::vector<token> in(8 * 32), target(8 * 32);
  for (std::size_t i = 0; i < in.size(); ++i) {
    in[i] = token((i * 37 + 11) % 256);
    target[i] = token((i * 53 + 7) % 256);
  }
  auto run = [&](int threads) {
    omp_set_num_threads(threads);
    tern::cross_entropy<float> ce;
    m.zero_grad();
    const tern::matrix<float> logits = m.forward(in, 32);
    ce.forward(logits, target);
    m.backward(ce.backward());
    std::vector<tern::matrix<float>> grads;
    m.for_each_parameter([&](std::string_view, tern::parameter<float>& p) { grads.push_back(p.grad); });
    return std::make_pair(logits, grads);
  };
  const int before = omp_get_max_threads();
  const auto one = run(1), two = run(2);
  omp_set_num_threads(before);
  CHECK(one.first == two.first);
  CHECK(one.second == two.second);
}
#endif

TEST_CASE("transformer: bad configs, tokens and shapes throw", "[nn][transformer]") {
  auto c = tiny_config();
  c.n_kv_heads = 3;
  CHECK_THROWS_WITH(tern::transformer<double>(c, 1), Catch::Contains("n_kv_heads"));
  c = tiny_config();
  c.dim = 0;
  CHECK_THROWS_WITH(tern::transformer<double>(c, 1), Catch::Contains("dim"));
  tern::transformer<double> m(tiny_config(), 1);
  CHECK_THROWS_AS(m.backward(md::Zero(5, 11)), std::logic_error);  // before forward
  const std::vector<token> five = {1, 2, 3, 4, 5};
  CHECK_THROWS_AS(m.forward(five, 2), tern::shape_error);      // 5 tokens, seq 2
  CHECK_THROWS_AS(m.forward(five, 5), tern::shape_error);      // seq 5 > max_seq 4
  m.forward(five, 1);  // a good forward, then a failing one
  const std::vector<token> bad = {1, 11};
  CHECK_THROWS_AS(m.forward(bad, 2), std::out_of_range);        // id 11 >= vocab 11
  CHECK_THROWS_AS(m.backward(md::Zero(2, 11)), std::logic_error);  // the failed forward left no cache
  m.forward(five, 1);
  CHECK_THROWS_WITH(m.backward(md::Zero(5, 10)), Catch::Contains("5x10") && Catch::Contains("5x11"));
}
