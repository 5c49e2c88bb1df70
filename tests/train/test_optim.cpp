// AdamW against hand-written scalar formulas, the warmup+cosine schedule at its endpoints,
// and global-norm clipping (exact scaling, pre-clip norm, NaN handling).
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <numbers>

#include "tern/optim/adamw.hpp"
#include "tern/optim/clip_grad_norm.hpp"
#include "tern/optim/lr_schedule.hpp"

namespace {

// Two parameters: a 2x2 matrix (decayed by default) and a 1x2 gain (not decayed).
struct two_params {
  using scalar = double;
  tern::parameter<double> w{tern::matrix<double>(2, 2)}, g{tern::matrix<double>(1, 2)};
  tern::matrix<double> forward(const tern::matrix<double>& x) { return x; }
  tern::matrix<double> backward(const tern::matrix<double>& d) { return d; }
  template <class F>
  void for_each_parameter(F&& f) {
    f(std::string_view("w"), w);
    f(std::string_view("g"), g);
  }
};

// The AdamW update of one scalar over a sequence of gradients, written out independently.
double adamw_scalar(double p, const std::vector<double>& grads, double lr, double b1, double b2, double eps, double wd) {
  double m = 0, v = 0;
  for (std::size_t i = 0; i < grads.size(); ++i) {
    const double t = double(i + 1);
    m = b1 * m + (1 - b1) * grads[i];
    v = b2 * v + (1 - b2) * grads[i] * grads[i];
    const double mh = m / (1 - std::pow(b1, t)), vh = v / (1 - std::pow(b2, t));
    p = p - lr * wd * p;
    p = p - lr * mh / (std::sqrt(vh) + eps);
  }
  return p;
}

}  // namespace

TEST_CASE("adamw: first step is lr * sign(g) plus decoupled decay on matrices only") {
  two_params m;
  m.w.value << 1.0, -2.0, 0.5, 3.0;
  m.g.value << 1.0, 1.0;
  m.w.grad << 0.1, -0.2, 0.0, 4.0;
  m.g.grad << -0.3, 0.7;
  tern::adamw_config c;
  c.lr = 0.01;
  c.weight_decay = 0.1;
  c.eps = 1e-8;
  tern::adamw<double> opt(c);
  opt.step(m);
  // Step 1: m^ = g, v^ = g^2, so the update is lr * g / (|g| + eps).
  const double lr = 0.01, wd = 0.1;
  CHECK(m.w.value(0, 0) == Approx(1.0 * (1 - lr * wd) - lr * 0.1 / (0.1 + 1e-8)).epsilon(1e-14));
  CHECK(m.w.value(0, 1) == Approx(-2.0 * (1 - lr * wd) + lr * 0.2 / (0.2 + 1e-8)).epsilon(1e-14));
  CHECK(m.w.value(1, 0) == Approx(0.5 * (1 - lr * wd)).epsilon(1e-14));  // zero gradient: decay only
  CHECK(m.w.value(1, 1) == Approx(3.0 * (1 - lr * wd) - lr * 4.0 / (4.0 + 1e-8)).epsilon(1e-14));
  CHECK(m.g.value(0, 0) == Approx(1.0 + lr * 0.3 / (0.3 + 1e-8)).epsilon(1e-14));  // gain: no decay
  CHECK(m.g.value(0, 1) == Approx(1.0 - lr * 0.7 / (0.7 + 1e-8)).epsilon(1e-14));
  CHECK(opt.step_count() == 1);
}

TEST_CASE("adamw: three steps match the scalar bias-corrected formulas") {
  two_params m;
  m.w.value << 0.3, -0.1, 2.0, -1.5;
  m.g.value << 0.9, -0.4;
  const std::vector<std::vector<double>> grads = {
      {0.5, -1.0, 0.25, 2.0, 0.1, -0.2}, {-0.5, 0.3, 0.25, 1.0, 0.0, 0.4}, {0.2, 0.2, -3.0, 0.5, 1e-3, -0.1}};
  tern::adamw_config c;
  c.lr = 0.05;
  c.beta1 = 0.8;
  c.beta2 = 0.95;
  c.eps = 1e-6;
  c.weight_decay = 0.2;
  tern::adamw<double> opt(c);
  const std::vector<double> start = {0.3, -0.1, 2.0, -1.5, 0.9, -0.4};
  for (const auto& gs : grads) {
    for (int k = 0; k < 4; ++k) m.w.grad.data()[k] = gs[std::size_t(k)];
    m.g.grad << gs[4], gs[5];
    opt.step(m);
  }
  for (int k = 0; k < 6; ++k) {
    std::vector<double> seq;
    for (const auto& gs : grads) seq.push_back(gs[std::size_t(k)]);
    const double wd = k < 4 ? 0.2 : 0.0;
    const double expect = adamw_scalar(start[std::size_t(k)], seq, 0.05, 0.8, 0.95, 1e-6, wd);
    const double got = k < 4 ? m.w.value.data()[k] : m.g.value.data()[k - 4];
    CHECK(got == Approx(expect).epsilon(1e-12));
  }
}

TEST_CASE("adamw: a model whose parameters changed is rejected with the names") {
  two_params m;
  m.w.value.setOnes();
  m.g.value.setOnes();
  m.w.zero_grad();
  m.g.zero_grad();
  tern::adamw<double> opt;
  opt.step(m);
  m.g = tern::parameter<double>(tern::matrix<double>::Ones(1, 3));
  try {
    opt.step(m);
    FAIL("expected a shape error");
  } catch (const tern::shape_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("1x2") && Catch::Contains("1x3") && Catch::Contains("g"));
  }
}

TEST_CASE("lr_schedule: warmup and cosine endpoints") {
  const tern::lr_schedule s(1e-3, 10, 110, 1e-5);
  CHECK(s(0) == Approx(1e-4));          // (0 + 1) / 10 of peak
  CHECK(s(4) == Approx(5e-4));
  CHECK(s(9) == Approx(1e-3));          // warmup reaches peak
  CHECK(s(10) == Approx(1e-3));         // cosine starts at peak
  CHECK(s(109) == Approx(1e-5));        // last step at floor
  CHECK(s(500) == Approx(1e-5));
  // Midpoint of the cosine (t - W = (T - W) / 2 with T = 109): halfway between peak and floor.
  const tern::lr_schedule h(2.0, 0, 101, 0.0);
  CHECK(h(50) == Approx(1.0));
  CHECK(h(25) == Approx(1.0 + std::cos(std::numbers::pi / 4)));
  for (int t = 11; t < 109; ++t) CHECK(s(t) <= s(t - 1));  // monotone decay
  CHECK_THROWS_AS(tern::lr_schedule(1e-3, 20, 10), std::invalid_argument);
  CHECK_THROWS_AS(tern::lr_schedule(-1.0, 0, 10), std::invalid_argument);
}

TEST_CASE("clip_grad_norm: scales the global norm to exactly max_norm and returns the pre-clip norm") {
  two_params m;
  m.w.grad << 3.0, 0.0, 0.0, 4.0;   // squared sum 25
  m.g.grad << 0.0, 12.0;            // + 144 = 169, norm 13
  const double n = tern::clip_grad_norm(m, 6.5);
  CHECK(n == 13.0);
  CHECK(m.w.grad(0, 0) == Approx(1.5));
  CHECK(m.w.grad(1, 1) == Approx(2.0));
  CHECK(m.g.grad(0, 1) == Approx(6.0));
  CHECK(tern::grad_norm(m) == Approx(6.5).epsilon(1e-15));
  // Below the limit: untouched.
  const double n2 = tern::clip_grad_norm(m, 100.0);
  CHECK(n2 == Approx(6.5));
  CHECK(m.g.grad(0, 1) == Approx(6.0));
}

TEST_CASE("clip_grad_norm: NaN or Inf gradients leave gradients unchanged and return a non-finite norm") {
  two_params m;
  m.w.grad << 1.0, 2.0, 3.0, 4.0;
  m.g.grad << std::numeric_limits<double>::quiet_NaN(), 1.0;
  const double n = tern::clip_grad_norm(m, 1.0);
  CHECK(std::isnan(n));
  CHECK(m.w.grad(1, 1) == 4.0);
  m.g.grad << std::numeric_limits<double>::infinity(), 1.0;
  CHECK(std::isinf(tern::clip_grad_norm(m, 1.0)));
  CHECK(m.w.grad(0, 1) == 2.0);
  CHECK_THROWS_AS(tern::clip_grad_norm(m, 0.0), std::invalid_argument);
}
