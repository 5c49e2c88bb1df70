// The inference runtime against the training model it was frozen from:
//  - one projection: the folded norm's int8 codes against the training quantizer's, and the
//    output within the bound those codes imply;
//  - whole models of every policy that freezes, both ternary formats: logits against the
//    training forward at lambda = 1; tq2 and tq1 bit-identical;
//  - decode over the KV cache against a full recomputation at every position;
//  - sampling (greedy, seeds, top-k, top-p) on hand-made distributions; generation.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tern/infer/freeze.hpp"
#include "tern/infer/generate.hpp"
#include "tern/infer/sampler.hpp"
#include "tern/infer/session.hpp"
#include "tern/nn/projection_policy.hpp"
#include "tern/nn/transformer.hpp"
#include "tern/quant/absmax_int8.hpp"

namespace tern {
namespace ti = tern::infer;
namespace tk = tern::kernels;

namespace {

tern::transformer_config small_config(index kv_heads) {
  tern::transformer_config c;
  c.vocab = 61;
  c.dim = 48;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = kv_heads;
  c.ffn_hidden = 80;
  c.max_seq = 24;
  c.init_std = 0.3;
  return c;
}

/// A model of policy P with random weights (std 0.3) and random gains in [0.5, 1.5].
template <class P>
tern::transformer<float, P> random_model(const tern::transformer_config& c, std::uint64_t seed) {
  tern::transformer<float, P> m(c, seed);
  std::mt19937 rng(static_cast<unsigned>(seed));
  std::uniform_real_distribution<float> g(0.5f, 1.5f);
  m.for_each_parameter([&](std::string_view name, tern::parameter<float>& p) {
    if (name.ends_with("gain"))
      for (index i = 0; i < p.value.size(); ++i) p.value.data()[i] = g(rng);
  });
  m.set_lambda(1.0);
  return m;
}

std::vector<token> random_tokens(index n, index vocab, std::mt19937& rng) {
  std::uniform_int_distribution<int> d(0, int(vocab) - 1);
  std::vector<token> t(static_cast<std::size_t>(n));
  for (auto& v : t) v = d(rng);
  return t;
}

// Policies that freeze (each a distinct type), for TEMPLATE_TEST_CASE.
using group_projection = tern::projection<tern::absmean_ternary<tern::per_group<32>>, tern::absmax_int8<>, tern::plain_rms_norm>;
using channel_projection = tern::projection<tern::absmean_ternary<tern::per_channel>, tern::absmax_int8<>, tern::learned_rms_norm>;
using grouped_policy = tern::model_policy<group_projection, channel_projection>;
using ternary_head_policy = tern::with_head<tern::extra_norm_policy, tern::ternary_projection>;
using subln_no_prenorm = tern::with_block_norm<tern::subln_policy, tern::no_norm>;

}  // namespace

TEST_CASE("a frozen projection's folded norm gives the training codes up to rare moves of one, and the output their bound",
          "[infer][freeze]") {
  using layer = tern::bit_linear<float, tern::absmean_ternary<tern::per_channel>, tern::absmax_int8<>,
                                 tern::rms_norm<float, tern::gain::learned>>;
  std::mt19937 rng(11);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::uniform_real_distribution<float> gd(0.5f, 1.5f);
  const index k = 300, m = 40, n = 64;
  layer l(k, m);
  for (index i = 0; i < l.weight().value.size(); ++i) l.weight().value.data()[i] = d(rng);
  for (index j = 0; j < k; ++j) l.norm().gain_parameter().value(0, j) = gd(rng);
  matrix<float> x(n, k);
  for (index i = 0; i < x.size(); ++i) x.data()[i] = 3.0f * d(rng);
  const matrix<float> y_train = l.forward(x);
  const ti::frozen_linear f = ti::detail::freeze_linear(l, ti::weight_format::f32, ti::freeze_options{}, 1e-6f);
  ti::linear_scratch s;
  matrix<float> y;
  tk::sequential_executor ex;
  f.forward(x, y, s, tk::detect_path(), ex);
  // The training model's codes: absmax int8 of the normalised input.
  const matrix<float> xn = l.norm().forward(x);
  const tern::quantized<float> qt = tern::absmax_int8<>::quantize(xn);
  const tern::quantized<float> wq = l.quantized_weights();
  index moved = 0;
  for (index t = 0; t < n; ++t) {
    index moved_row = 0;
    for (index j = 0; j < k; ++j) {
      const int diff = std::abs(int(s.act.code(t, j)) - int(qt.codes(t, j)));
      REQUIRE(diff <= 1);
      moved_row += diff;
    }
    moved += moved_row;
    // |y_frozen - y_train| <= beta_i * step_t * (moved codes) + float rounding of the K-term sums
    const double step = qt.scales(t, 0);  // gamma / 127 of the normalised row
    for (index i = 0; i < m; ++i) {
      double mag = 0;
      for (index j = 0; j < k; ++j) mag += std::abs(double(wq.scale(i, j)) * wq.codes(i, j) * step * qt.codes(t, j));
      const double bound = wq.scale(i, 0) * step * double(moved_row) + 1e-5 * mag;
      REQUIRE(std::abs(double(y(t, i)) - double(y_train(t, i))) <= bound);
    }
  }
  CHECK(moved <= n * k / 1000);  // moves happen only within rounding of a tie: rare
}

TEMPLATE_TEST_CASE("frozen logits equal the training forward at lambda = 1, for every policy that freezes",
                   "[infer][freeze]", tern::qat_policy, tern::extra_norm_policy, tern::subln_policy,
                   ternary_head_policy, subln_no_prenorm, grouped_policy, tern::fp_policy) {
  for (index kv : {4, 2}) {  // multi-head and grouped-query attention
    auto model = random_model<TestType>(small_config(kv), 5 + std::uint64_t(kv));
    std::mt19937 rng(7);
    const index seq = 20;
    const std::vector<token> t = random_tokens(seq, model.config().vocab, rng);
    const matrix<float> ref = model.forward(t, seq);
    const float scale = std::max(1.0f, ref.cwiseAbs().maxCoeff());
    matrix<float> by_format[2];
    int f = 0;
    for (ti::weight_format fmt : {ti::weight_format::tq2, ti::weight_format::tq1}) {
      const ti::inference_model fm = ti::freeze(model, {.ternary = fmt});
      tk::thread_pool pool(2);
      ti::session s(fm);
      const matrix<float>& got = s.forward(t, true, pool);
      REQUIRE(got.rows() == seq);
      REQUIRE(got.cols() == model.config().vocab);
      std::vector<float> err(static_cast<std::size_t>(got.size()));
      for (index i = 0; i < got.size(); ++i) err[std::size_t(i)] = std::abs(got.data()[i] - ref.data()[i]) / scale;
      std::sort(err.begin(), err.end());
      INFO("policy " << fm.policy() << ", kv heads " << kv << ", " << ti::format_name(fmt) << ": median error "
                     << err[err.size() / 2] << ", max " << err.back());
      // Float rounding alone (no moved code): ~1e-6 relative. A moved int8 code (one step,
      // 1/127 of a token's absmax, in one input of one projection) perturbs that token's
      // logits by ~1e-3 here; the bound leaves 10x room, the median stays at rounding level.
      CHECK(err[err.size() / 2] <= 2e-5f);
      CHECK(err.back() <= 2e-2f);
      by_format[f++] = got;
    }
    CHECK(by_format[0] == by_format[1]);  // same codes, same int32 sums, same epilogue
  }
}

TEST_CASE("decode over the KV cache equals a full recomputation at every position", "[infer][cache]") {
  auto model = random_model<tern::extra_norm_policy>(small_config(2), 3);
  for (ti::weight_format head : {ti::weight_format::f32, ti::weight_format::i8, ti::weight_format::bf16}) {
    const ti::inference_model fm = ti::freeze(model, {.head = head});
    std::mt19937 rng(9);
    const std::vector<token> t = random_tokens(fm.config().max_seq, fm.config().vocab, rng);
    tk::thread_pool pool(2);
    ti::session full(fm), step(fm);
    const matrix<float> all = full.forward(t, true, pool);
    const index split = 5;  // a prefill of 5, then one token at a time
    matrix<float> got(index(t.size()), fm.config().vocab);
    got.topRows(split) = step.forward(std::span<const token>(t.data(), split), true, pool);
    for (index p = split; p < index(t.size()); ++p) {
      const matrix<float>& l = step.forward(std::span<const token>(t.data() + p, 1), false, pool);
      got.row(p) = l.row(0);
      // the last-token logits of a prefill equal the last row of all logits
    }
    CHECK(step.position() == index(t.size()));
    const float scale = std::max(1.0f, all.cwiseAbs().maxCoeff());
    INFO("head " << ti::format_name(head));
    CHECK((got - all).cwiseAbs().maxCoeff() <= 1e-5f * scale);
    // The cache is full: one more token is refused and leaves it as it was.
    const token one = 1;
    CHECK_THROWS_AS(step.forward(std::span<const token>(&one, 1), false, pool), std::length_error);
    CHECK(step.position() == index(t.size()));
    ti::session last(fm);
    const matrix<float>& only_last = last.forward(t, false, pool);
    CHECK((only_last.row(0) - all.row(all.rows() - 1)).cwiseAbs().maxCoeff() <= 1e-5f * scale);
  }
}

TEST_CASE("the frozen model refuses bad tokens and a cache of another model", "[infer][errors]") {
  auto model = random_model<tern::qat_policy>(small_config(4), 1);
  const ti::inference_model fm = ti::freeze(model);
  tk::sequential_executor ex;
  ti::session s(fm);
  const std::vector<token> bad = {1, 2, 61};
  CHECK_THROWS_AS(s.forward(bad, false, ex), std::out_of_range);
  CHECK(s.position() == 0);
  const std::vector<token> neg = {-1};
  CHECK_THROWS_AS(s.forward(neg, false, ex), std::out_of_range);
  CHECK_THROWS_AS(s.forward(std::span<const token>(), false, ex), std::invalid_argument);
  auto other_cfg = small_config(2);
  auto other = random_model<tern::qat_policy>(other_cfg, 2);
  const ti::inference_model fo = ti::freeze(other);
  ti::kv_cache wrong = fo.make_cache();
  ti::forward_scratch scratch;
  const std::vector<token> ok = {1, 2};
  CHECK_THROWS_AS(fm.forward(ok, wrong, scratch, false, tk::detect_path(), ex), std::invalid_argument);
  CHECK_THROWS_AS(fm.make_cache(fm.config().max_seq + 1), std::invalid_argument);
  CHECK_THROWS_AS(ti::freeze(model, {.ternary = ti::weight_format::f32}), std::invalid_argument);
}

TEST_CASE("bits per linear weight: 2 for tq2, 1.6 for tq1, plus the scales", "[infer][freeze]") {
  tern::transformer_config c = small_config(4);
  c.dim = 1280;  // a multiple of both block sizes (256 and 320): no padding
  c.ffn_hidden = 2560;
  c.n_layers = 1;
  auto model = random_model<tern::qat_policy>(c, 4);
  const ti::inference_model f2 = ti::freeze(model);
  const ti::inference_model f1 = ti::freeze(model, {.ternary = ti::weight_format::tq1});
  const index n = f2.linear_weight_count();
  CHECK(n == 4 * 1280 * 1280 + 3 * 1280 * 2560);
  const std::size_t scales = 7 * sizeof(float);  // per-tensor: one scale per projection
  CHECK(f2.linear_bytes() == std::size_t(n) / 4 + scales);
  CHECK(f1.linear_bytes() == std::size_t(n) / 5 + scales);
  CHECK(f2.bits_per_linear_weight() == Approx(2.0 + 8.0 * double(scales) / double(n)));
  CHECK(f1.bits_per_linear_weight() == Approx(1.6 + 8.0 * double(scales) / double(n)));
}

TEST_CASE("sampling: greedy is the argmax, a seed fixes the draws, top-k and top-p keep their sets", "[infer][sampling]") {
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.0f, 2.0f);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<float> l(97);
    for (auto& v : l) v = d(rng);
    ti::sampler g({.temperature = 0.0});
    CHECK(g.sample(l) == token(std::max_element(l.begin(), l.end()) - l.begin()));
  }
  // ties: the lowest id
  const std::vector<float> tie = {0.0f, 3.0f, 1.0f, 3.0f};
  CHECK(ti::sampler({.temperature = 0.0}).sample(tie) == 1);

  // A hand-made distribution: probabilities 0.4, 0.3, 0.2, 0.1 (by id 2, 0, 3, 1).
  const std::vector<float> l = {std::log(0.3f), std::log(0.1f), std::log(0.4f), std::log(0.2f)};
  {  // temperature 1, no cuts: candidates are the softmax
    const auto c = ti::sampler({.temperature = 1.0}).candidates(l);
    REQUIRE(c.size() == 4);
    std::map<token, double> p(c.begin(), c.end());
    CHECK(p[2] == Approx(0.4));
    CHECK(p[0] == Approx(0.3));
    CHECK(p[3] == Approx(0.2));
    CHECK(p[1] == Approx(0.1));
  }
  {  // temperature 0.5: p ~ q^2, normalised
    const auto c = ti::sampler({.temperature = 0.5}).candidates(l);
    std::map<token, double> p(c.begin(), c.end());
    CHECK(p[2] == Approx(0.16 / 0.30));
    CHECK(p[1] == Approx(0.01 / 0.30));
  }
  const auto draws = [&](ti::sampling_options o, int n) {
    ti::sampler s(o);
    std::vector<token> out;
    for (int i = 0; i < n; ++i) out.push_back(s.sample(l));
    return out;
  };
  CHECK(draws({.temperature = 1.0, .seed = 42}, 200) == draws({.temperature = 1.0, .seed = 42}, 200));
  CHECK(draws({.temperature = 1.0, .seed = 42}, 200) != draws({.temperature = 1.0, .seed = 43}, 200));
  // top-k 2 keeps {2, 0}; top-p 0.65 keeps {2, 0} (0.4 + 0.3 >= 0.65); top-p 0.75 adds 3.
  for (const auto& [o, allowed] : std::vector<std::pair<ti::sampling_options, std::set<token>>>{
           {{.temperature = 1.0, .top_k = 2, .seed = 1}, {2, 0}},
           {{.temperature = 1.0, .top_p = 0.65, .seed = 2}, {2, 0}},
           {{.temperature = 1.0, .top_p = 0.75, .seed = 3}, {2, 0, 3}},
           {{.temperature = 2.0, .top_k = 3, .top_p = 0.5, .seed = 4}, {2, 0}},
       }) {
    std::map<token, int> seen;
    for (token t : draws(o, 4000)) seen[t]++;
    for (const auto& [t, n] : seen) CHECK(allowed.count(t) == 1);
    CHECK(seen.size() == allowed.size());  // and every kept token is drawn
  }
  {  // draw frequencies follow the kept distribution (top-k 2: 4/7 and 3/7), 4000 draws
    std::map<token, int> seen;
    for (token t : draws({.temperature = 1.0, .top_k = 2, .seed = 9}, 4000)) seen[t]++;
    CHECK(seen[2] / 4000.0 == Approx(4.0 / 7.0).margin(0.03));
  }
  CHECK_THROWS_AS(ti::sampler({.temperature = -1.0}), std::invalid_argument);
  CHECK_THROWS_AS(ti::sampler({.top_p = 0.0}), std::invalid_argument);
  CHECK_THROWS_AS(ti::sampler({.top_k = -2}), std::invalid_argument);
  const std::vector<float> bad = {0.0f, std::nanf("")};
  CHECK_THROWS_AS(ti::sampler().sample(bad), std::domain_error);
}

TEST_CASE("generate: greedy follows the argmax, stops on the stop token and the callback, shifts a full context",
          "[infer][generate]") {
  auto model = random_model<tern::extra_norm_policy>(small_config(2), 8);
  const ti::inference_model fm = ti::freeze(model);
  tk::thread_pool pool(2);
  const std::vector<token> prompt = {3, 14, 15, 9, 2};
  ti::session s(fm);
  std::vector<token> got;
  ti::generate_options o;
  o.max_new_tokens = 10;
  o.sampling.temperature = 0.0;
  const ti::generate_stats st = ti::generate(s, prompt, o, [&](token t) { got.push_back(t); }, pool);
  CHECK(st.new_tokens == 10);
  CHECK(st.prompt_tokens == 5);
  CHECK(st.decode_steps == 9);
  // The same by hand: full recomputation, argmax each time.
  std::vector<token> ctx = prompt, want;
  for (int i = 0; i < 10; ++i) {
    ti::session fresh(fm);
    const matrix<float>& l = fresh.forward(ctx, false, pool);
    index best;
    l.row(0).maxCoeff(&best);
    want.push_back(token(best));
    ctx.push_back(token(best));
  }
  CHECK(got == want);
  // The stop token ends it and is not handed out.
  ti::generate_options stop = o;
  stop.stop_token = want[3];
  std::vector<token> until;
  const auto st2 = ti::generate(s, prompt, stop, [&](token t) { until.push_back(t); }, pool);
  CHECK(st2.stopped);
  CHECK(until == std::vector<token>(want.begin(), std::find(want.begin(), want.end(), want[3])));
  // The callback ends it.
  int calls = 0;
  const auto st3 = ti::generate(s, prompt, o, [&](token) { return ++calls < 4; }, pool);
  CHECK(calls == 4);
  CHECK(st3.stopped);
  // Longer than the context (24): context shifts keep it going; a seeded run repeats itself.
  ti::generate_options longer;
  longer.max_new_tokens = 60;
  longer.sampling = {.temperature = 0.9, .top_k = 20, .seed = 5};
  std::vector<token> a, b;
  const auto sa = ti::generate(s, prompt, longer, [&](token t) { a.push_back(t); }, pool);
  ti::generate(s, prompt, longer, [&](token t) { b.push_back(t); }, pool);
  CHECK(a.size() == 60);
  CHECK(a == b);
  CHECK(sa.context_shifts >= 2);
  for (token t : a) CHECK((t >= 0 && t < fm.config().vocab));
  CHECK_THROWS_AS(ti::generate(s, std::span<const token>(), o, [](token) {}, pool), std::invalid_argument);
}

}  // namespace tern
