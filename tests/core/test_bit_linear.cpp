// bit_linear: exact FP gradients at lambda = 0 (finite differences), the STE identities at
// lambda = 1 and in between (against formulas built from the separately tested quantizers).
#include <catch2/catch.hpp>

#include <tern/tern.hpp>

#include "support/gradcheck.hpp"

using namespace tern;
using test::max_rel_error;
using test::numeric_gradient;

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
  CHECK(max_rel_error(dx, numeric_gradient(x, loss)) < 1e-7);
  l.for_each_parameter([&](std::string_view name, parameter<double>& p) {
    INFO(name);
    const matrix<double> analytic = p.grad;
    CHECK(max_rel_error(analytic, numeric_gradient(p.value, loss)) < 1e-7);
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

TEST_CASE("bit_linear names shapes in its errors", "[nn][bit_linear][errors]") {
  bit_linear<float> l(4, 3);
  CHECK_THROWS_WITH(l.forward(matrix<float>::Zero(2, 5)), Catch::Contains("bit_linear::forward") &&
                                                              Catch::Contains("2x5") && Catch::Contains("?x4"));
  l.forward(matrix<float>::Ones(2, 4));
  CHECK_THROWS_WITH(l.backward(matrix<float>::Zero(2, 4)), Catch::Contains("2x4") && Catch::Contains("2x3"));
  CHECK_THROWS_WITH(l.set_lambda(2.0f), Catch::Contains("lambda"));
  CHECK_THROWS_AS(bit_linear<float>(0, 3), shape_error);
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
