// bit_linear: exact FP gradients at lambda = 0 (finite differences), the STE identities at
// lambda = 1 and in between (against formulas built from the separately tested quantizers).
#include <catch2/catch.hpp>

#include <tern/tern.hpp>

#include "support/gradcheck.hpp"

using namespace tern;
using tern_test::numeric_grad;
using tern_test::rel_error;

namespace {
template <class L>
void init(L& l, unsigned seed) {
  std::srand(seed);
  l.weight().value = matrix<double>::Random(l.out_features(), l.in_features());
  l.for_each_parameter([](std::string_view name, parameter<double>& p) {
    if (name == "norm.gain") p.value = matrix<double>::Random(1, p.value.cols()).array() + 1.5;
  });
}
}  // namespace

TEMPLATE_TEST_CASE("bit_linear at lambda = 0 has the exact FP gradients", "[nn][bit_linear][grad]",
                   (bit_linear<double>), (bit_linear<double, absmean_ternary<per_group<3>>, absmax_int8<>, no_norm<double>>),
                   (bit_linear<double, absmean_ternary<>, absmax_int8<>, rms_norm<double, gain::none>>),
                   fp_linear<double>) {
  TestType l(7, 5);
  init(l, 1);
  l.set_lambda(0.0);
  matrix<double> x = matrix<double>::Random(4, 7);
  const matrix<double> R = matrix<double>::Random(4, 5);
  const auto loss = [&] { return (l.forward(x).array() * R.array()).sum(); };

  l.forward(x);
  zero_grad(l);
  const matrix<double> dx = l.backward(R);
  CHECK(rel_error(dx, numeric_grad(x, loss)) < 1e-7);
  l.for_each_parameter([&](std::string_view name, parameter<double>& p) {
    INFO(name);
    const matrix<double> analytic = p.grad;
    CHECK(rel_error(analytic, numeric_grad(p.value, loss)) < 1e-7);
  });
}

TEST_CASE("bit_linear forward at lambda = 1 is the quantized product", "[nn][bit_linear]") {
  bit_linear<double, absmean_ternary<>, absmax_int8<>, rms_norm<double, gain::none>> l(16, 6);
  init(l, 2);
  const matrix<double> x = matrix<double>::Random(3, 16) * 4.0;
  const matrix<double> y = l.forward(x);
  // The integer form: (codes_W . codes_x) * beta * gamma / 127 on the RMS-normalised input.
  rms_norm<double, gain::none> n(16);
  const auto qx = absmax_int8<>::quantize(n.forward(x));
  const auto qw = l.quantized_weights();
  const matrix<double> acc = qx.codes.cast<double>() * qw.codes.cast<double>().transpose();
  for (tern::index i = 0; i < 3; ++i)
    for (tern::index o = 0; o < 6; ++o) CHECK(y(i, o) == Approx(acc(i, o) * qw.scales(0, 0) * qx.scales(i, 0)));
}

TEST_CASE("bit_linear backward is the straight-through estimator at lambda = 1 and between",
          "[nn][bit_linear][ste]") {
  for (double lambda : {1.0, 0.4}) {
    INFO("lambda = " << lambda);
    using L = bit_linear<double, absmean_ternary<per_channel>, absmax_int8<>, rms_norm<double, gain::learned>>;
    L l(9, 4);
    init(l, 3);
    l.set_lambda(lambda);
    const matrix<double> x = matrix<double>::Random(5, 9);
    const matrix<double> dy = matrix<double>::Random(5, 4);
    l.forward(x);
    zero_grad(l);
    const matrix<double> dx = l.backward(dy);

    // Reference: quantization treated as the identity in backward.
    rms_norm<double, gain::learned> n(9);
    n.gain_parameter().value = l.norm().gain_parameter().value;
    const matrix<double> xn = n.forward(x);
    const matrix<double> xq = xn + lambda * (absmax_int8<>::fake_quantize(xn) - xn);
    const matrix<double>& w = l.weight().value;
    const matrix<double> wq = w + lambda * (absmean_ternary<per_channel>::fake_quantize(w) - w);
    CHECK(l.weight().grad.isApprox(dy.transpose() * xq, 1e-12));
    const matrix<double> dx_ref = n.backward(dy * wq);
    CHECK(dx.isApprox(dx_ref, 1e-12));
    CHECK(l.norm().gain_parameter().grad.isApprox(n.gain_parameter().grad, 1e-12));
  }
}

TEST_CASE("bit_linear clipped STE masks the weight gradient", "[nn][bit_linear][ste]") {
  using C = absmean_ternary<per_tensor, round_half_even, clipped_ste>;
  bit_linear<double, C, absmax_int8<>, no_norm<double>> l(6, 3);
  init(l, 4);
  l.weight().value(0, 0) = 50.0;  // far beyond beta: clipped
  const matrix<double> x = matrix<double>::Random(2, 6);
  const matrix<double> dy = matrix<double>::Random(2, 3);
  l.forward(x);
  zero_grad(l);
  l.backward(dy);
  CHECK(l.weight().grad(0, 0) == 0.0);
  CHECK(l.weight().grad(1, 1) != 0.0);
}

TEST_CASE("bit_linear accumulates its weight gradient and uses the forward's lambda", "[nn][bit_linear]") {
  // A clipped STE makes the backward depend on lambda: (1 - lambda) g + lambda mask g.
  bit_linear<double, absmean_ternary<per_tensor, round_half_even, clipped_ste>, absmax_int8<>, no_norm<double>> l(5, 3);
  init(l, 5);
  l.set_lambda(0.5);
  const matrix<double> x = matrix<double>::Random(4, 5), dy = matrix<double>::Random(4, 3);
  l.forward(x);
  zero_grad(l);
  const matrix<double> dx1 = l.backward(dy);
  const matrix<double> g1 = l.weight().grad;
  l.set_lambda(1.0);  // changed after forward: backward still follows the forward
  const matrix<double> dx2 = l.backward(dy);
  CHECK(l.weight().grad.isApprox(2 * g1, 1e-12));
  CHECK(dx2.isApprox(dx1, 1e-12));
  // The mixed mask really differs from the lambda = 1 mask here (some weights are clipped).
  const matrix<double> full = decltype(l)::weight_quantizer::backward(l.weight().value, (matrix<double>)(dy.transpose() * absmax_int8<>::fake_quantize(x)));
  CHECK_FALSE(g1.isApprox(full, 1e-6));
}

TEST_CASE("bit_linear: non-finite input rows give NaN rows, other rows unchanged", "[nn][bit_linear][nan]") {
  bit_linear<float> l(6, 4);
  l.weight().value = matrix<float>::Random(4, 6);
  matrix<float> x = matrix<float>::Random(3, 6);
  const matrix<float> clean = l.forward(x);
  x(1, 3) = std::numeric_limits<float>::quiet_NaN();
  x(2, 0) = -std::numeric_limits<float>::infinity();
  const matrix<float> y = l.forward(x);
  CHECK(y.row(0) == clean.row(0));
  CHECK(y.row(1).array().isNaN().all());
  CHECK(y.row(2).array().isNaN().all());
}

TEST_CASE("bit_linear names shapes in its errors", "[nn][bit_linear][errors]") {
  bit_linear<float> l(4, 3);
  CHECK_THROWS_WITH(l.forward(matrix<float>::Zero(2, 5)), Catch::Contains("bit_linear::forward") &&
                                                              Catch::Contains("2x5") && Catch::Contains("?x4"));
  l.forward(matrix<float>::Ones(2, 4));
  CHECK_THROWS_WITH(l.backward(matrix<float>::Zero(2, 4)), Catch::Contains("2x4") && Catch::Contains("2x3"));
  CHECK_THROWS_WITH(l.set_lambda(2.0f), Catch::Contains("lambda"));
  CHECK_THROWS_WITH(bit_linear<float>(0, 3), Catch::Contains("bit_linear: in and out must be positive"));
  bit_linear<float> fresh(4, 3);
  CHECK_THROWS_WITH(fresh.backward(matrix<float>::Zero(2, 3)), Catch::Contains("before forward"));
}

TEST_CASE("bit_linear visits weight then norm gain", "[nn][bit_linear]") {
  bit_linear<float> l(4, 3);
  std::vector<std::string> names;
  l.for_each_parameter([&](std::string_view n, parameter<float>&) { names.emplace_back(n); });
  CHECK(names == std::vector<std::string>{"weight", "norm.gain"});
  fp_linear<float> f(4, 3);
  names.clear();
  f.for_each_parameter([&](std::string_view n, parameter<float>&) { names.emplace_back(n); });
  CHECK(names == std::vector<std::string>{"weight"});
}

namespace {
/// absmax_int8 with its row-wise form hidden: bit_linear takes the unfused path with it.
struct absmax_int8_unfused {
  template <class T>
  static matrix<T> fake_quantize(const matrix<T>& x) { return absmax_int8<>::fake_quantize(x); }
  template <class T>
  static matrix<T> backward(const matrix<T>& x, const matrix<T>& dq) { return absmax_int8<>::backward(x, dq); }
};
}  // namespace

TEMPLATE_TEST_CASE("bit_linear's fused norm -> quantizer path is bit-identical to the unfused one",
                   "[nn][bit_linear][fused]", float, double) {
  using T = TestType;
  STATIC_REQUIRE((bit_linear<T, absmean_ternary<>, absmax_int8<>, rms_norm<T, gain::learned>>::fused_input));
  STATIC_REQUIRE((bit_linear<T, absmean_ternary<>, absmax_int8<>, rms_norm<T, gain::none>>::fused_input));
  STATIC_REQUIRE((bit_linear<T, absmean_ternary<>, absmax_int8<>, no_norm<T>>::fused_input));
  STATIC_REQUIRE_FALSE((bit_linear<T, absmean_ternary<>, absmax_int8_unfused, rms_norm<T>>::fused_input));
  STATIC_REQUIRE_FALSE((bit_linear<T, absmean_ternary<>, absmax_int8<round_half_even, clipped_ste>>::fused_input));
  STATIC_REQUIRE_FALSE(fp_linear<T>::fused_input);

  // Every output, input gradient and parameter gradient equal, bit for bit (NaN where NaN).
  const auto same = [](const matrix<T>& a, const matrix<T>& b) {
    return a.rows() == b.rows() && a.cols() == b.cols() &&
           (a.array().isNaN() == b.array().isNaN()).all() && (a.array().isNaN() || a.array() == b.array()).all();
  };
  const auto check = [&](auto a, auto b, tern::index in, bool poison) {
    std::srand(11);
    const tern::index out = a.out_features(), rows = 6;
    const matrix<T> w = matrix<T>::Random(out, in);
    const matrix<T> gain = matrix<T>::Random(1, in).array() + T(1.5);
    a.weight().value = w;
    b.weight().value = w;
    a.for_each_parameter([&](std::string_view name, parameter<T>& p) { if (name == "norm.gain") p.value = gain; });
    b.for_each_parameter([&](std::string_view name, parameter<T>& p) { if (name == "norm.gain") p.value = gain; });
    matrix<T> x = matrix<T>::Random(rows, in) * T(3);
    if (poison) x(2, in / 2) = std::numeric_limits<T>::quiet_NaN();  // one poisoned row, same path in both
    const matrix<T> dy = matrix<T>::Random(rows, out);
    for (const T lambda : {T(0), T(0.3), T(0.7), T(1)}) {
      INFO("in " << in << " poison " << poison << " lambda " << double(lambda));
      a.set_lambda(lambda);
      b.set_lambda(lambda);
      zero_grad(a);
      zero_grad(b);
      CHECK(same(a.forward(x), b.forward(x)));
      CHECK(same(a.backward(dy), b.backward(dy)));
      std::vector<matrix<T>> ga, gb;
      a.for_each_parameter([&](std::string_view, parameter<T>& p) { ga.push_back(p.grad); });
      b.for_each_parameter([&](std::string_view, parameter<T>& p) { gb.push_back(p.grad); });
      REQUIRE(ga.size() == gb.size());
      for (std::size_t k = 0; k < ga.size(); ++k) {
        CHECK(same(ga[k], gb[k]));
        if (!poison) CHECK(ga[k].allFinite());  // a clean input: real numbers are compared
      }
    }
  };
  for (const tern::index in : {tern::index(1), tern::index(23), tern::index(64)})
    for (const bool poison : {false, true}) {
      check(bit_linear<T, absmean_ternary<>, absmax_int8<>, rms_norm<T>>(in, 9),
            bit_linear<T, absmean_ternary<>, absmax_int8_unfused, rms_norm<T>>(in, 9), in, poison);
      check(bit_linear<T, absmean_ternary<>, absmax_int8<>, no_norm<T>>(in, 9),
            bit_linear<T, absmean_ternary<>, absmax_int8_unfused, no_norm<T>>(in, 9), in, poison);
    }
}
