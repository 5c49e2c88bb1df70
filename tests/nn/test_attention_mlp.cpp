// Causal self-attention (RoPE, grouped-query heads) and the SwiGLU MLP: forward against
// plain-loop references, every gradient against finite differences in double, causality,
// bad shapes.
#include <catch2/catch.hpp>

#include "support/gradcheck.hpp"
#include "nn_reference.hpp"
#include "tern/nn/attention.hpp"
#include "tern/nn/projection_policy.hpp"
#include "tern/nn/swiglu_mlp.hpp"

using namespace tern_test;

namespace {
using fp = tern::fp_projection::linear<double>;
using tq = tern::ternary_extra_norm_projection::linear<double>;  // extra RMSNorm + quantizers
using fp_attention = tern::attention<double, fp, fp>;
using norm_attention = tern::attention<double, tq, tq>;

template <class A>
void init_attention(A& a, std::uint64_t seed) {
  a.q().weight().value = random_matrix(a.q().out_features(), a.dim(), seed, 0.5);
  a.k().weight().value = random_matrix(a.k().out_features(), a.dim(), seed + 1, 0.5);
  a.v().weight().value = random_matrix(a.v().out_features(), a.dim(), seed + 2, 0.5);
  a.o().weight().value = random_matrix(a.dim(), a.o().in_features(), seed + 3, 0.5);
}
}  // namespace

TEST_CASE("attention: forward matches the plain-loop reference (MHA and GQA)", "[nn][attention]") {
  struct shape { ix dim, heads, kv; };
  for (const shape s : {shape{8, 2, 2}, shape{16, 4, 2}, shape{16, 4, 1}}) {
    INFO("dim " << s.dim << " heads " << s.heads << " kv " << s.kv);
    fp_attention a(s.dim, s.heads, s.kv, 6);
    init_attention(a, 10);
    const ix seq = 5;
    const md x = random_matrix(2 * seq, s.dim, 11);
    const md y = a.forward(x, seq);
    const md ref = attention_ref(x, seq, s.heads, s.kv, a.q().weight().value, a.k().weight().value,
                                 a.v().weight().value, a.o().weight().value);
    CHECK((y - ref).cwiseAbs().maxCoeff() < 1e-12);
  }
}

TEST_CASE("attention: gradients match finite differences", "[nn][attention]") {
  const ix seq = 4;
  auto fwd = [&](auto& layer, const md& x) { return layer.forward(x, seq); };
  SECTION("multi-head, FP projections") {
    fp_attention a(8, 2, 2, seq);
    init_attention(a, 20);
    check_layer_gradients(a, random_matrix(2 * seq, 8, 21), fwd);
  }
  SECTION("grouped-query (4 heads, 2 kv heads), FP projections") {
    fp_attention a(16, 4, 2, seq);
    init_attention(a, 30);
    check_layer_gradients(a, random_matrix(2 * seq, 16, 31), fwd);
  }
  SECTION("grouped-query, extra-norm projections at lambda = 0 (norm gains included)") {
    norm_attention a(8, 2, 1, seq);
    init_attention(a, 40);
    a.set_lambda(0.0);
    a.for_each_parameter([](std::string_view name, tern::parameter<double>& p) {
      if (name.ends_with("gain")) p.value = random_matrix(p.value.rows(), p.value.cols(), 41, 0.5).array() + 1.0;
    });
    check_layer_gradients(a, random_matrix(3 * seq, 8, 42), fwd);
  }
}

TEST_CASE("attention: causal, a later token does not change earlier outputs", "[nn][attention]") {
  fp_attention a(16, 4, 2, 5);
  init_attention(a, 50);
  md x = random_matrix(10, 16, 51);
  const md y0 = a.forward(x, 5);
  x.row(3) += random_matrix(1, 16, 52);  // sequence 0, position 3
  const md y1 = a.forward(x, 5);
  CHECK((y1.topRows(3) - y0.topRows(3)).cwiseAbs().maxCoeff() == 0.0);
  CHECK((y1.row(3) - y0.row(3)).cwiseAbs().maxCoeff() > 1e-6);
  CHECK((y1.bottomRows(5) - y0.bottomRows(5)).cwiseAbs().maxCoeff() == 0.0);  // other sequence
}

TEST_CASE("attention: bad configuration and shapes throw", "[nn][attention]") {
  CHECK_THROWS_AS(fp_attention(8, 3, 3, 4), std::invalid_argument);   // 3 does not divide 8
  CHECK_THROWS_AS(fp_attention(8, 4, 3, 4), std::invalid_argument);   // 3 does not divide 4
  CHECK_THROWS_AS(fp_attention(12, 4, 4, 4), std::invalid_argument);  // head width 3 is odd
  fp_attention a(8, 2, 2, 4);
  CHECK_THROWS_AS(a.backward(md::Zero(8, 8)), std::logic_error);  // before forward
  CHECK_THROWS_WITH(a.forward(md::Zero(4, 6), 4), Catch::Contains("4x6") && Catch::Contains("?x8"));
  CHECK_THROWS_AS(a.forward(md::Zero(6, 8), 4), tern::shape_error);  // 6 rows, seq 4
  CHECK_THROWS_AS(a.forward(md::Zero(8, 8), 8), tern::shape_error);  // seq longer than max_seq
  a.forward(md::Zero(8, 8), 4);
  CHECK_THROWS_WITH(a.backward(md::Zero(8, 7)), Catch::Contains("8x7") && Catch::Contains("8x8"));
}

TEST_CASE("swiglu_mlp: forward matches the reference, gradients match finite differences", "[nn][mlp]") {
  tern::swiglu_mlp<double, fp, fp> m(8, 12);
  m.gate().weight().value = random_matrix(12, 8, 60);
  m.up().weight().value = random_matrix(12, 8, 61);
  m.down().weight().value = random_matrix(8, 12, 62);
  const md x = random_matrix(5, 8, 63);
  CHECK((m.forward(x) - swiglu_ref(x, m.gate().weight().value, m.up().weight().value, m.down().weight().value))
            .cwiseAbs().maxCoeff() < 1e-12);
  check_layer_gradients(m, x, [](auto& l, const md& in) { return l.forward(in); });

  tern::swiglu_mlp<double, tq, fp> mn(8, 12);  // extra norm on gate/up, plain down
  mn.gate().weight().value = random_matrix(12, 8, 64);
  mn.up().weight().value = random_matrix(12, 8, 65);
  mn.down().weight().value = random_matrix(8, 12, 66);
  mn.set_lambda(0.0);
  check_layer_gradients(mn, x, [](auto& l, const md& in) { return l.forward(in); });
}

TEST_CASE("swiglu_mlp: bad shapes throw", "[nn][mlp]") {
  tern::swiglu_mlp<double, fp, fp> m(8, 12);
  CHECK_THROWS_AS(m.backward(md::Zero(3, 8)), std::logic_error);  // before forward
  CHECK_THROWS_WITH(m.forward(md::Zero(3, 7)), Catch::Contains("3x7") && Catch::Contains("?x8"));
  m.forward(md::Zero(3, 8));
  CHECK_THROWS_AS(m.backward(md::Zero(2, 8)), tern::shape_error);
}
