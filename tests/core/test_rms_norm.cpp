// rms_norm: forward against the formula, backward against finite differences (double).
#include <catch2/catch.hpp>

#include <tern/tern.hpp>

#include "support/gradcheck.hpp"

using namespace tern;
using tern_test::numeric_grad;
using tern_test::rel_error;

TEMPLATE_TEST_CASE_SIG("rms_norm forward matches the formula", "[nn][rms_norm]", ((gain G), G), gain::none,
                       gain::learned) {
  rms_norm<double, G> n(5);
  matrix<double> x = matrix<double>::Random(3, 5);
  if constexpr (G == gain::learned) n.gain_parameter().value << 1, 2, 3, 4, 5;
  const matrix<double> y = n.forward(x);
  for (tern::index i = 0; i < 3; ++i) {
    const double r = std::sqrt(x.row(i).squaredNorm() / 5 + 1e-6);
    for (tern::index j = 0; j < 5; ++j) CHECK(y(i, j) == Approx(x(i, j) / r * (G == gain::learned ? j + 1.0 : 1.0)));
  }
}

TEMPLATE_TEST_CASE_SIG("rms_norm backward matches finite differences", "[nn][rms_norm][grad]", ((gain G), G),
                       gain::none, gain::learned) {
  rms_norm<double, G> n(6);
  matrix<double> x = matrix<double>::Random(4, 6);
  const matrix<double> R = matrix<double>::Random(4, 6);
  if constexpr (G == gain::learned) n.gain_parameter().value = matrix<double>::Random(1, 6);
  const auto loss = [&] { return (n.forward(x).array() * R.array()).sum(); };

  n.forward(x);
  zero_grad(n);
  const matrix<double> dx = n.backward(R);
  CHECK(rel_error(dx, numeric_grad(x, loss)) < 1e-7);
  if constexpr (G == gain::learned) {
    const matrix<double> dg = n.gain_parameter().grad;
    CHECK(rel_error(dg, numeric_grad(n.gain_parameter().value, loss)) < 1e-7);
    // Gradients accumulate: a second backward doubles the parameter gradient.
    n.forward(x);
    n.backward(R);
    CHECK(n.gain_parameter().grad.isApprox(2 * dg, 1e-12));
  }
}

TEST_CASE("rms_norm rejects bad shapes naming both", "[nn][rms_norm][errors]") {
  rms_norm<float> n(4);
  CHECK_THROWS_WITH(n.forward(matrix<float>::Zero(2, 5)), Catch::Contains("2x5") && Catch::Contains("?x4"));
  n.forward(matrix<float>::Ones(2, 4));
  CHECK_THROWS_WITH(n.backward(matrix<float>::Zero(3, 4)), Catch::Contains("3x4") && Catch::Contains("2x4"));
  CHECK_THROWS_AS(rms_norm<float>(0), shape_error);
  // A zero row is safe: r = sqrt(eps), output 0.
  CHECK(n.forward(matrix<float>::Zero(1, 4)).isZero());
  rms_norm<float> fresh(4);
  CHECK_THROWS_WITH(fresh.backward(matrix<float>::Zero(1, 4)), Catch::Contains("before forward"));
}

TEST_CASE("rms_norm poisons rows with a NaN, an Inf or overflowing squares", "[nn][rms_norm][nan]") {
  rms_norm<float, gain::none> n(3);
  matrix<float> x = matrix<float>::Ones(4, 3);
  x(1, 0) = std::numeric_limits<float>::infinity();
  x(2, 2) = std::numeric_limits<float>::quiet_NaN();
  x.row(3).setConstant(1e30f);  // finite, but x^2 overflows float
  const matrix<float> y = n.forward(x);
  CHECK(y.row(0).allFinite());
  CHECK(y.row(0).isApprox(matrix<float>::Ones(1, 3)));
  for (int r : {1, 2, 3}) CHECK(y.row(r).array().isNaN().all());
}
