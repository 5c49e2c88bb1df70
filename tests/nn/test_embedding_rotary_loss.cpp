// Embedding, rotary embeddings, cross-entropy and KD loss: forward against direct formulas,
// gradients against finite differences in double, bad input.
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "support/gradcheck.hpp"
#include "nn_reference.hpp"
#include "tern/nn/cross_entropy.hpp"
#include "tern/nn/embedding.hpp"
#include "tern/nn/kd_loss.hpp"
#include "tern/nn/rotary.hpp"

using namespace tern_test;
using tern::token;

TEST_CASE("embedding: rows are looked up and gradients of repeated tokens add up", "[nn][embedding]") {
  tern::embedding<double> e(5, 3);
  e.weight().value = random_matrix(5, 3, 1);
  const std::vector<token> toks = {4, 0, 4, 2};
  const md y = e.forward(toks);
  REQUIRE(y.rows() == 4);
  for (int r = 0; r < 4; ++r) CHECK(y.row(r) == e.weight().value.row(toks[r]));

  const md r = random_matrix(4, 3, 2);
  e.weight().zero_grad();
  e.backward(r);
  const md num = numeric_grad(e.weight().value, [&] { return dot(e.forward(toks), r); });
  CHECK(rel_error(e.weight().grad, num) < 1e-8);
  CHECK(e.weight().grad.row(4) == r.row(0) + r.row(2));   // hand-worked: token 4 twice
  CHECK(e.weight().grad.row(1).isZero());                  // unused token: no gradient
  e.backward(r);                                            // accumulates
  CHECK(e.weight().grad.row(2) == 2 * r.row(3));
}

TEST_CASE("embedding: bad ids and shapes throw", "[nn][embedding]") {
  tern::embedding<double> e(5, 3);
  const std::vector<token> bad = {1, 5};
  CHECK_THROWS_AS(e.forward(bad), std::out_of_range);
  const std::vector<token> neg = {-1};
  CHECK_THROWS_AS(e.forward(neg), std::out_of_range);
  const std::vector<token> ok = {1, 2};
  e.forward(ok);
  CHECK_THROWS_WITH(e.backward(md::Zero(3, 3)), Catch::Contains("3x3") && Catch::Contains("2x3"));
  CHECK_THROWS_AS(tern::embedding<double>(0, 3), std::invalid_argument);
  CHECK_THROWS_AS(tern::embedding<double>(5, 3).backward(md::Zero(0, 3)), std::logic_error);  // before forward
}


TEST_CASE("rotary: forward matches the direct formula, backward is the exact inverse rotation", "[nn][rotary]") {
  const ix d = 6, seq = 5, heads = 2, batch = 2;
  tern::rotary<double> rope(d, 8);
  md x = random_matrix(batch * seq, heads * d, 3);
  const md y = rope.forward(x, seq);
  CHECK((y - rope_ref(x, seq, d)).cwiseAbs().maxCoeff() < 1e-12);
  // position 0 is the identity
  CHECK((y.row(0) - x.row(0)).cwiseAbs().maxCoeff() == 0.0);
  // orthogonal: norms per head preserved, and backward(forward(x)) = x
  CHECK(std::abs(y.row(7).norm() - x.row(7).norm()) < 1e-12);
  CHECK((rope.backward(y, seq) - x).cwiseAbs().maxCoeff() < 1e-12);
  // backward is the gradient of <rope(x), r>
  const md r = random_matrix(batch * seq, heads * d, 4);
  const md num = numeric_grad(x, [&] { return dot(rope.forward(x, seq), r); });
  CHECK(rel_error(rope.backward(r, seq), num) < 1e-8);
}

TEST_CASE("rotary: scores depend only on the relative position", "[nn][rotary]") {
  const ix d = 8, seq = 7;
  tern::rotary<double> rope(d, seq);
  const md q = random_matrix(1, d, 5), k = random_matrix(1, d, 6);
  // put the same q and k at every position of one sequence
  md qs(seq, d), ks(seq, d);
  for (ix p = 0; p < seq; ++p) {
    qs.row(p) = q;
    ks.row(p) = k;
  }
  const md qr = rope.forward(qs, seq), kr = rope.forward(ks, seq);
  auto score = [&](ix p, ix s) { return qr.row(p).dot(kr.row(s)); };
  CHECK(score(3, 1) == Approx(score(5, 3)).epsilon(1e-12));
  CHECK(score(6, 6) == Approx(score(0, 0)).epsilon(1e-12));
  CHECK(score(1, 4) == Approx(score(2, 5)).epsilon(1e-12));
  CHECK(std::abs(score(3, 1) - score(3, 2)) > 1e-6);  // but not position-blind
}

TEST_CASE("rotary: bad shapes throw shape_error", "[nn][rotary]") {
  tern::rotary<double> rope(4, 6);
  CHECK_THROWS_AS(rope.forward(md::Zero(6, 6), 3), tern::shape_error);   // 6 cols not heads*4
  CHECK_THROWS_AS(rope.forward(md::Zero(7, 8), 3), tern::shape_error);   // 7 rows not B*3
  CHECK_THROWS_AS(rope.forward(md::Zero(8, 8), 8), tern::shape_error);   // longer than max_seq
  CHECK_THROWS_AS(tern::rotary<double>(5, 6), std::invalid_argument);    // odd head dim
}

TEST_CASE("cross_entropy: loss matches -log softmax, gradient matches finite differences", "[nn][loss]") {
  md z = random_matrix(4, 7, 7, 3.0);
  const std::vector<token> t = {0, 6, 3, 3};
  tern::cross_entropy<double> ce;
  const double loss = ce.forward(z, t);
  double ref = 0;
  for (ix r = 0; r < 4; ++r) {
    double s = 0;
    for (ix j = 0; j < 7; ++j) s += std::exp(z(r, j));
    ref += -std::log(std::exp(z(r, t[std::size_t(r)])) / s);
  }
  CHECK(loss == Approx(ref / 4).epsilon(1e-12));
  const md g = ce.backward();
  tern::cross_entropy<double> ce2;
  const md num = numeric_grad(z, [&] { return ce2.forward(z, t); });
  CHECK(rel_error(g, num) < 1e-8);
  // uniform logits: loss = log V
  tern::cross_entropy<double> ce3;
  CHECK(ce3.forward(md::Zero(2, 7), std::vector<token>{1, 2}) == Approx(std::log(7.0)));
}

TEST_CASE("cross_entropy: stable for huge logits, float agrees with double", "[nn][loss]") {
  md z = random_matrix(3, 5, 8, 1.0);
  z(1, 2) = 1e4;
  const std::vector<token> t = {1, 2, 4};
  tern::cross_entropy<double> ce;
  const double l = ce.forward(z, t);
  CHECK(std::isfinite(l));
  CHECK(ce.backward().allFinite());
  tern::cross_entropy<float> cf;
  const tern::matrix<float> zf = random_matrix(3, 5, 9, 2.0).cast<float>();
  tern::cross_entropy<double> cd;
  CHECK(double(cf.forward(zf, t)) == Approx(cd.forward(zf.cast<double>(), t)).epsilon(1e-5));
}

TEST_CASE("cross_entropy and kd_loss: non-finite logits give a non-finite loss, not an exception", "[nn][loss]") {
  md z = random_matrix(2, 4, 12);
  z(1, 2) = std::nan("");
  tern::cross_entropy<double> ce;
  CHECK(std::isnan(ce.forward(z, std::vector<token>{0, 1})));
  tern::kd_loss<double> kd;
  CHECK(std::isnan(kd.forward(z, random_matrix(2, 4, 13))));
}

TEST_CASE("cross_entropy: bad targets and shapes throw", "[nn][loss]") {
  tern::cross_entropy<double> ce;
  const md z = md::Zero(3, 5);
  CHECK_THROWS_AS(ce.forward(z, std::vector<token>{0, 5, 1}), std::out_of_range);
  CHECK_THROWS_AS(ce.forward(z, std::vector<token>{0, -1, 1}), std::out_of_range);
  CHECK_THROWS_AS(ce.forward(z, std::vector<token>{0, 1}), tern::shape_error);
  CHECK_THROWS_AS(ce.forward(md::Zero(1, 0), std::vector<token>{0}), std::out_of_range);  // empty vocab
  CHECK_THROWS_AS(tern::cross_entropy<double>().backward(), std::logic_error);             // before forward
}

TEST_CASE("kd_loss: zero for identical logits, direct formula, tau^2-scaled gradient", "[nn][loss]") {
  const md t = random_matrix(3, 6, 10, 2.0);
  for (double tau : {1.0, 2.5}) {
    tern::kd_loss<double> kd(tau);
    CHECK(std::abs(kd.forward(t, t)) < 1e-14);
    CHECK(kd.backward().cwiseAbs().maxCoeff() < 1e-15);

    md s = random_matrix(3, 6, 11, 2.0);
    const double loss = kd.forward(s, t);
    double ref = 0;
    for (ix r = 0; r < 3; ++r) {
      double zs = 0, zt = 0;
      for (ix j = 0; j < 6; ++j) {
        zs += std::exp(s(r, j) / tau);
        zt += std::exp(t(r, j) / tau);
      }
      for (ix j = 0; j < 6; ++j) {
        const double p = std::exp(s(r, j) / tau) / zs, q = std::exp(t(r, j) / tau) / zt;
        ref += q * std::log(q / p);
      }
    }
    CHECK(loss > 0);
    CHECK(loss == Approx(tau * tau * ref / 3).epsilon(1e-12));
    const md g = kd.backward();
    tern::kd_loss<double> kd2(tau);
    const md num = numeric_grad(s, [&] { return kd2.forward(s, t); });
    CHECK(rel_error(g, num) < 1e-8);
  }
}

TEST_CASE("kd_loss: bad shapes and temperatures throw", "[nn][loss]") {
  tern::kd_loss<double> kd;
  CHECK_THROWS_WITH(kd.forward(md::Zero(2, 5), md::Zero(2, 4)), Catch::Contains("2x5") && Catch::Contains("2x4"));
  CHECK_THROWS_AS(kd.backward(), std::logic_error);  // before forward
  CHECK_THROWS_AS(kd.forward(md::Zero(2, 0), md::Zero(2, 0)), tern::shape_error);
  CHECK_THROWS_AS(kd.forward(md::Zero(0, 3), md::Zero(0, 3)), tern::shape_error);
  CHECK_THROWS_AS(tern::kd_loss<double>(0.0), std::invalid_argument);
  CHECK_THROWS_AS(tern::kd_loss<double>(-1.0), std::invalid_argument);
}
