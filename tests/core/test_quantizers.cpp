// Quantizers against hand-worked vectors computed from METHOD's formulas.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <tern/tern.hpp>

using namespace tern;

namespace {
template <class T = float>
matrix<T> mat(tern::index r, tern::index c, std::initializer_list<T> v) {
  matrix<T> m(r, c);
  auto it = v.begin();
  for (tern::index i = 0; i < r; ++i)
    for (tern::index j = 0; j < c; ++j) m(i, j) = *it++;
  return m;
}
matrix<std::int8_t> codes(tern::index r, tern::index c, std::initializer_list<int> v) {
  matrix<std::int8_t> m(r, c);
  auto it = v.begin();
  for (tern::index i = 0; i < r; ++i)
    for (tern::index j = 0; j < c; ++j) m(i, j) = std::int8_t(*it++);
  return m;
}
}  // namespace

TEST_CASE("rounding policies on ties and near-ties", "[quant][rounding]") {
  CHECK(round_half_even::apply(0.5f) == 0.0f);
  CHECK(round_half_even::apply(1.5f) == 2.0f);
  CHECK(round_half_even::apply(2.5f) == 2.0f);
  CHECK(round_half_even::apply(-0.5f) == 0.0f);
  CHECK(round_half_even::apply(-1.5f) == -2.0f);
  CHECK(round_half_even::apply(-2.5f) == -2.0f);
  CHECK(round_half_up::apply(0.5f) == 1.0f);
  CHECK(round_half_up::apply(-0.5f) == 0.0f);
  CHECK(round_half_up::apply(-1.5f) == -1.0f);
  CHECK(round_half_up::apply(2.5f) == 3.0f);
  CHECK(round_half_away::apply(-0.5f) == -1.0f);
  CHECK(round_half_away::apply(2.5f) == 3.0f);
  // The largest float below 0.5 must round to 0 (floor(x + 0.5) gets this wrong).
  const float below = std::nextafter(0.5f, 0.0f);
  CHECK(round_half_even::apply(below) == 0.0f);
  CHECK(round_half_up::apply(below) == 0.0f);
  CHECK(round_half_even::apply(0.51f) == 1.0f);
  CHECK(std::isnan(round_half_even::apply(std::numeric_limits<float>::quiet_NaN())));
}

TEMPLATE_TEST_CASE("vectorized rounding equals the scalar definition", "[quant][rounding]", round_half_even,
                   round_half_up, round_half_away) {
  // Random values over a wide range, every half-integer tie in [-300, 300], and near-ties.
  matrix<float> a = matrix<float>::Random(64, 64) * 200.0f;
  std::vector<float> extra;
  for (int k = -600; k <= 600; ++k) {
    extra.push_back(k * 0.5f);
    extra.push_back(std::nextafter(k * 0.5f, 1e9f));
    extra.push_back(std::nextafter(k * 0.5f, -1e9f));
  }
  const Eigen::Map<const Eigen::ArrayXf> e(extra.data(), tern::index(extra.size()));
  const Eigen::ArrayXf ev = TestType::apply_array(e);
  for (tern::index i = 0; i < e.size(); ++i) REQUIRE(ev(i) == TestType::apply(e(i)));
  const Eigen::ArrayXXf av = TestType::apply_array(a.array());
  for (tern::index i = 0; i < a.rows(); ++i)
    for (tern::index j = 0; j < a.cols(); ++j) REQUIRE(av(i, j) == TestType::apply(a(i, j)));
}

TEST_CASE("vectorized fake_quantize equals the scalar code() definition", "[quant]") {
  const matrix<float> x = matrix<float>::Random(9, 131) * 3.0f;
  const matrix<float> g = absmax_int8<>::gammas(x);
  const matrix<float> a = absmax_int8<round_half_up>::fake_quantize(x);
  const matrix<float> s = absmean_ternary<per_group<16>>::scales(x);
  const matrix<float> t = absmean_ternary<per_group<16>>::fake_quantize(x);
  for (tern::index i = 0; i < x.rows(); ++i)
    for (tern::index j = 0; j < x.cols(); ++j) {
      REQUIRE(a(i, j) == g(i, 0) * absmax_int8<round_half_up>::code(x(i, j), g(i, 0)) / 127.0f);
      const float beta = s(i, j / 16);
      REQUIRE(t(i, j) == beta * absmean_ternary<per_group<16>>::code(x(i, j), beta));
    }
}

TEST_CASE("absmean ternary, per tensor, hand-worked", "[quant][ternary]") {
  // mean |W| = 3.5 / 8 = 0.4375; W / beta = .457 -1.371 2.286 0 / .229 -.229 .686 -2.743
  const matrix<float> w = mat<float>(2, 4, {0.2f, -0.6f, 1.0f, 0.0f, 0.1f, -0.1f, 0.3f, -1.2f});
  const auto q = absmean_ternary<>::quantize(w);
  CHECK(q.codes == codes(2, 4, {0, -1, 1, 0, 0, 0, 1, -1}));
  REQUIRE(q.scales.rows() == 1);
  REQUIRE(q.scales.cols() == 1);
  CHECK(q.scales(0, 0) == Approx(0.4375f));
  const matrix<float> f = absmean_ternary<>::fake_quantize(w);
  CHECK(f == (q.codes.cast<float>() * 0.4375f));
}

TEST_CASE("absmean ternary ties under each rounding mode", "[quant][ternary][rounding]") {
  // mean |W| = 0.5 exactly, so W / beta = 0.5, -0.5, 1.5, -1.5: every entry is a tie.
  const matrix<float> w = mat<float>(1, 4, {0.25f, -0.25f, 0.75f, -0.75f});
  CHECK(absmean_ternary<per_tensor, round_half_even>::quantize(w).codes == codes(1, 4, {0, 0, 1, -1}));
  CHECK(absmean_ternary<per_tensor, round_half_up>::quantize(w).codes == codes(1, 4, {1, 0, 1, -1}));
  CHECK(absmean_ternary<per_tensor, round_half_away>::quantize(w).codes == codes(1, 4, {1, -1, 1, -1}));
}

TEST_CASE("absmean ternary, per channel", "[quant][ternary]") {
  const matrix<float> w = mat<float>(2, 3, {1.0f, 2.0f, 3.0f, -0.1f, 0.05f, 0.4f});
  const auto q = absmean_ternary<per_channel>::quantize(w);
  // row 0: beta = 2 -> 0.5 (tie, even: 0), 1, 1.5 -> 2 -> 1; row 1: beta = 0.55/3
  CHECK(q.scales.rows() == 2);
  CHECK(q.scales(0, 0) == Approx(2.0f));
  CHECK(q.scales(1, 0) == Approx(0.55f / 3));
  CHECK(q.codes == codes(2, 3, {0, 1, 1, -1, 0, 1}));
}

TEST_CASE("absmean ternary, per group with K not a multiple of G", "[quant][ternary]") {
  // K = 7, G = 3: groups [0,3) [3,6) [6,7); the tail group has one element.
  const matrix<float> w = mat<float>(2, 7, {1, 2, 3, 0.5f, 0.5f, 2, -4,  //
                                            0, 0, 0, 1, -1, 1, 0.25f});
  const auto q = absmean_ternary<per_group<3>>::quantize(w);
  REQUIRE(q.group == 3);
  REQUIRE(q.scales.rows() == 2);
  REQUIRE(q.scales.cols() == 3);
  CHECK(q.scales(0, 0) == 2.0f);
  CHECK(q.scales(0, 1) == 1.0f);
  CHECK(q.scales(0, 2) == 4.0f);
  CHECK(q.scales(1, 0) == float(absmean_ternary<>::eps));  // an all-zero group: the eps floor
  CHECK(q.scales(1, 1) == 1.0f);
  CHECK(q.scales(1, 2) == 0.25f);
  CHECK(q.codes == codes(2, 7, {0, 1, 1, 0, 0, 1, -1,  //
                                0, 0, 0, 1, -1, 1, 1}));
  CHECK(q.scale(0, 6) == 4.0f);
  CHECK(q.scale(1, 4) == 1.0f);
}

TEST_CASE("all-zero inputs quantize to zeros, never NaN", "[quant][eps]") {
  const matrix<float> z = matrix<float>::Zero(3, 5);
  CHECK(absmean_ternary<>::fake_quantize(z) == z);
  CHECK(absmean_ternary<per_group<2>>::fake_quantize(z) == z);
  CHECK(absmax_int8<>::fake_quantize(z) == z);
  const auto q = absmax_int8<>::quantize(z);
  CHECK(q.codes == matrix<std::int8_t>::Zero(3, 5));
  CHECK(q.scales(0, 0) == Approx(1e-5f / 127));
}

TEST_CASE("absmax int8 per token, hand-worked with ties", "[quant][int8]") {
  // gamma = 127, so 127 * x / gamma = x exactly: the codes are round(x).
  const matrix<float> x = mat<float>(2, 5, {127, 0.5f, -0.5f, 1.5f, -2.5f,  //
                                            0.5f, -1.0f, 0.25f, 0.0f, 0.125f});
  const auto e = absmax_int8<round_half_even>::quantize(x);
  CHECK(e.codes == codes(2, 5, {127, 0, 0, 2, -2,  //
                                64, -127, 32, 0, 16}));  // row 1: gamma = 1, 63.5 -> 64, 31.75 -> 32, 15.875 -> 16
  CHECK(e.scales(0, 0) == 1.0f);
  CHECK(e.scales(1, 0) == Approx(1.0f / 127));
  CHECK(absmax_int8<round_half_up>::quantize(x).codes.row(0) == codes(1, 5, {127, 1, 0, 2, -2}));
  CHECK(absmax_int8<round_half_away>::quantize(x).codes.row(0) == codes(1, 5, {127, 1, -1, 2, -3}));
  const matrix<float> f = absmax_int8<>::fake_quantize(x);
  CHECK(f(0, 3) == 2.0f);
  CHECK(f(1, 0) == Approx(64.0f / 127));
}

TEST_CASE("absmax int8 clamps to [-128, 127] with a caller's gamma", "[quant][int8]") {
  const matrix<float> x = mat<float>(1, 4, {-1.5f, 1.5f, -1.004f, 1.004f});
  const matrix<float> gamma = matrix<float>::Ones(1, 1);
  const auto q = absmax_int8<>::quantize_with(x, gamma);
  // 127 * x = -190.5, 190.5, -127.508, 127.508
  CHECK(q.codes == codes(1, 4, {-128, 127, -128, 127}));
  CHECK_THROWS_WITH(absmax_int8<>::quantize_with(x, matrix<float>::Ones(2, 1).eval()),
                    Catch::Contains("2x1") && Catch::Contains("1x1"));
  // A caller's gamma must be finite and positive (0 would make 0/0 and an undefined cast).
  for (float g : {0.0f, -1.0f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()})
    CHECK_THROWS_WITH(absmax_int8<>::quantize_with(x, matrix<float>::Constant(1, 1, g).eval()),
                      Catch::Contains("gamma(0)"));
}

TEST_CASE("absmax int8 codes are invariant to a positive row scale", "[quant][int8]") {
  // Powers of two keep the arithmetic exact, so the identity must hold bit for bit.
  const matrix<float> x = matrix<float>::Random(4, 33);
  for (float r : {0.25f, 4.0f, 1024.0f}) {
    const matrix<float> xr = x / r;
    CHECK(absmax_int8<>::quantize(xr).codes == absmax_int8<>::quantize(x).codes);
  }
}

TEST_CASE("absmax int8 codes move by at most 1 under a general row scale", "[quant][int8]") {
  // Exact arithmetic would make them equal; rounding near ties may move a code by one step.
  const matrix<float> x = matrix<float>::Random(64, 257);
  const matrix<int> base = absmax_int8<>::quantize(x).codes.cast<int>();
  for (float r : {0.3f, 1.7f, 13.1f}) {
    const matrix<float> xr = x / r;
    const matrix<int> diff = absmax_int8<>::quantize(xr).codes.cast<int>() - base;
    CHECK(diff.cwiseAbs().maxCoeff() <= 1);
    CHECK(diff.cwiseAbs().sum() <= x.size() / 1000);  // and rarely
  }
}

TEST_CASE("dequantize of quantize equals fake_quantize", "[quant]") {
  const matrix<float> w = matrix<float>::Random(7, 29);
  CHECK(absmean_ternary<>::quantize(w).dequantize() == absmean_ternary<>::fake_quantize(w));
  CHECK(absmean_ternary<per_channel>::quantize(w).dequantize() == absmean_ternary<per_channel>::fake_quantize(w));
  CHECK(absmean_ternary<per_group<8>, round_half_up>::quantize(w).dequantize() ==
        absmean_ternary<per_group<8>, round_half_up>::fake_quantize(w));
  CHECK(absmax_int8<>::quantize(w).dequantize().isApprox(absmax_int8<>::fake_quantize(w), 1e-6f));
}

TEST_CASE("non-finite inputs: defined NaN blocks and throwing quantize", "[quant][nan]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  matrix<float> x = matrix<float>::Ones(3, 4);
  x(1, 2) = nan;
  x(2, 0) = inf;
  const matrix<float> a = absmax_int8<>::fake_quantize(x);
  CHECK(a.row(0) == matrix<float>::Ones(1, 4));  // the finite row is untouched
  CHECK(a.row(1).array().isNaN().all());        // a NaN row comes out all NaN
  CHECK(a.row(2).array().isNaN().all());        // so does a row with an Inf
  CHECK_THROWS_WITH(absmax_int8<>::quantize(x), Catch::Contains("activation(1, 2)"));

  // Weights: only the group holding the NaN is poisoned.
  matrix<float> w = matrix<float>::Ones(2, 6);
  w(1, 4) = nan;
  const matrix<float> g = absmean_ternary<per_group<3>>::fake_quantize(w);
  CHECK(g.row(0) == matrix<float>::Ones(1, 6));
  CHECK(g.block(1, 0, 1, 3) == matrix<float>::Ones(1, 3));
  CHECK(g.block(1, 3, 1, 3).array().isNaN().all());
  CHECK(absmean_ternary<>::fake_quantize(w).array().isNaN().all());
  CHECK_THROWS_WITH(absmean_ternary<>::quantize(w), Catch::Contains("weight(1, 4)"));

  // Finite weights whose mean |W| overflows: no code can represent them either.
  const matrix<float> big = matrix<float>::Constant(1, 2, std::numeric_limits<float>::max());
  CHECK_THROWS_WITH(absmean_ternary<>::quantize(big), Catch::Contains("overflows"));
  CHECK(absmean_ternary<>::fake_quantize(big).array().isNaN().all());
}

TEST_CASE("straight-through and clipped backward", "[quant][ste]") {
  // beta = mean(|.|) = 1 here; |w / beta| > 1 at entries 1 and 3.
  const matrix<double> w = mat<double>(1, 4, {0.5, 2.0, -0.25, -1.25});
  const matrix<double> g = mat<double>(1, 4, {1, 2, 3, 4});
  CHECK(absmean_ternary<>::backward(w, g) == g);
  const matrix<double> c = absmean_ternary<per_tensor, round_half_even, clipped_ste>::backward(w, g);
  CHECK(c == mat<double>(1, 4, {1, 0, 3, 0}));
  // Absmax gamma never clips.
  CHECK(absmax_int8<round_half_even, clipped_ste>::backward(w, g) == g);
  CHECK_THROWS_AS(absmean_ternary<>::backward(w, matrix<double>::Ones(2, 4).eval()), shape_error);
}

TEST_CASE("lambda mixing interpolates forward, weights the STE backward", "[quant][lambda]") {
  const matrix<double> w = matrix<double>::Random(3, 8);
  const matrix<double> q = absmean_ternary<>::fake_quantize(w);
  using Q = absmean_ternary<>;
  CHECK(mix_forward<Q>(w, 0.0) == w);
  const matrix<float> wf = w.cast<float>();
  CHECK(mix_forward<Q>(wf, 0.5).isApprox(0.5f * wf + 0.5f * Q::fake_quantize(wf)));  // a double literal is fine
  CHECK(mix_forward<Q>(w, 1.0) == q);
  CHECK(mix_forward<Q>(w, 0.25).isApprox(0.75 * w + 0.25 * q, 1e-15));
  const matrix<double> g = matrix<double>::Random(3, 8);
  CHECK(mix_backward<Q>(w, g, 0.3) .isApprox(g, 1e-15));  // identity STE: identity for any lambda
  using C = absmean_ternary<per_tensor, round_half_even, clipped_ste>;
  const matrix<double> mask = C::backward(w, matrix<double>::Ones(3, 8).eval());
  CHECK(mix_backward<C>(w, g, 0.3).isApprox((0.7 * g.array() + 0.3 * mask.array() * g.array()).matrix(), 1e-15));
  CHECK_THROWS_WITH(mix_forward<Q>(w, 1.5), Catch::Contains("lambda"));
  CHECK_THROWS_AS(mix_forward<Q>(w, std::numeric_limits<double>::quiet_NaN()), std::invalid_argument);
}
