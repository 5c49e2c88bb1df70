// Schedules: endpoints, monotonicity, layer ordering, bad parameters.
#include <catch2/catch.hpp>

#include <cmath>
#include <tern/tern.hpp>

using namespace tern;

namespace {
template <class S>
void check_warmup_shape(const S& s, std::int64_t T) {
  CHECK(s.lambda(-5, 0) == 0.0);
  CHECK(s.lambda(0, 0) == 0.0);
  CHECK(s.lambda(T, 0) == Approx(1.0).margin(1e-12));
  CHECK(s.lambda(T + 100, 0) == Approx(1.0).margin(1e-12));
  double prev = 0.0;
  for (std::int64_t t = 0; t <= T; ++t) {
    const double v = s.lambda(t, 0);
    CHECK(v >= prev);
    CHECK(v <= 1.0);
    prev = v;
  }
}
}  // namespace

TEST_CASE("global warmups: endpoints and monotonicity", "[schedule]") {
  check_warmup_shape(linear_warmup(100), 100);
  check_warmup_shape(fixed_warmup(), 1000);
  check_warmup_shape(exponential_warmup(100, 3.0), 100);
  check_warmup_shape(sigmoid_warmup(100, 10.0), 100);
}

TEST_CASE("warmup formulas at interior points", "[schedule]") {
  CHECK(linear_warmup(200).lambda(50, 7) == 0.25);
  CHECK(fixed_warmup().lambda(250, 0) == 0.25);
  CHECK(exponential_warmup(100, 2.0).lambda(50, 0) == Approx(1 - 0.25));
  CHECK(sigmoid_warmup(100, 10.0).lambda(50, 0) == Approx(0.5));  // symmetric about T/2
  const double s0 = 1 / (1 + std::exp(5.0)), s1 = 1 / (1 + std::exp(-5.0));
  const double s25 = 1 / (1 + std::exp(-10.0 * (0.25 - 0.5)));
  CHECK(sigmoid_warmup(100, 10.0).lambda(25, 0) == Approx((s25 - s0) / (s1 - s0)));
}

TEST_CASE("constant and step schedules", "[schedule]") {
  CHECK(constant_lambda(1.0).lambda(0, 0) == 1.0);
  CHECK(constant_lambda(0.0).lambda(1000, 3) == 0.0);
  const step_schedule s{{10, 0.25}, {20, 0.5}, {30, 1.0}};
  CHECK(s.lambda(0, 0) == 0.0);
  CHECK(s.lambda(10, 0) == 0.25);
  CHECK(s.lambda(19, 0) == 0.25);
  CHECK(s.lambda(25, 0) == 0.5);
  CHECK(s.lambda(1000, 0) == 1.0);
  CHECK_THROWS_WITH((step_schedule{{10, 0.5}, {5, 1.0}}), Catch::Contains("points[1].step"));
  CHECK_THROWS_WITH((step_schedule{{10, 1.5}}), Catch::Contains("points[0].value"));
  CHECK_THROWS_WITH(constant_lambda(-0.1), Catch::Contains("outside [0, 1]"));
  CHECK_THROWS_WITH(linear_warmup(0), Catch::Contains("steps = 0"));
  CHECK_THROWS_WITH(sigmoid_warmup(100, 1e-17), Catch::Contains("k = "));
  CHECK_THROWS_WITH(exponential_warmup(100, -1.0), Catch::Contains("k = "));
}

TEST_CASE("layer-wise schedule follows METHOD's ramp and the chosen order", "[schedule][layer]") {
  // lambda_l(t) = clamp((t - t0 - pos(l) * D) / T, 0, 1), t0 = 10, D = 20, T = 40, 4 layers.
  const layer_wise<> fl(linear_warmup(40), 4, 10, 20, layer_order::first_to_last);
  for (int l = 0; l < 4; ++l)
    for (std::int64_t t = 0; t < 200; t += 7)
      CHECK(fl.lambda(t, l) == Approx(std::clamp((t - 10.0 - l * 20.0) / 40.0, 0.0, 1.0)));
  // Earlier positions are always at least as quantized as later ones.
  for (std::int64_t t = 0; t < 200; ++t)
    for (int l = 1; l < 4; ++l) CHECK(fl.lambda(t, l - 1) >= fl.lambda(t, l));

  const layer_wise<> lf(linear_warmup(40), 4, 10, 20, layer_order::last_to_first);
  CHECK(lf.lambda(50, 3) == fl.lambda(50, 0));
  CHECK(lf.lambda(50, 0) == fl.lambda(50, 3));
  CHECK(lf.lambda(10 + 3 * 20 + 40, 0) == 1.0);  // the last to start is done at t0 + (L-1) D + T

  const layer_wise<> ex(linear_warmup(40), std::vector<int>{2, 0, 3, 1}, 0, 10);
  CHECK(ex.position(2) == 0);
  CHECK(ex.position(1) == 3);
  CHECK(ex.lambda(20, 2) == 0.5);
  CHECK(ex.lambda(20, 0) == 0.25);
  CHECK(ex.lambda(20, 1) == 0.0);

  // Any ramp composes: an exponential ramp per layer.
  const layer_wise<exponential_warmup> ew(exponential_warmup(10, 2.0), 2, 0, 5);
  CHECK(ew.lambda(10, 1) == Approx(exponential_warmup(10, 2.0).lambda(5, 0)));

  CHECK_THROWS_WITH(fl.lambda(0, 4), Catch::Contains("layer 4"));
  CHECK_THROWS_WITH((layer_wise<>(linear_warmup(4), std::vector<int>{0, 0}, 0, 1)), Catch::Contains("twice"));
  CHECK_THROWS_WITH((layer_wise<>(linear_warmup(4), std::vector<int>{0, 5}, 0, 1)), Catch::Contains("order[1] = 5"));
}
