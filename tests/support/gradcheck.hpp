#pragma once
// Finite-difference helpers for the nn tests (double precision only).
#include <cmath>
#include <cstdint>
#include <random>
#include <string>

#include "tern/core/matrix.hpp"

namespace tern_test {

using ix = tern::index;
using md = tern::matrix<double>;

/// A matrix of uniform values in [-scale, scale], reproducible from the seed.
inline md random_matrix(ix rows, ix cols, std::uint64_t seed, double scale = 1.0) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(-scale, scale);
  md m(rows, cols);
  for (ix i = 0; i < m.size(); ++i) m.data()[i] = u(gen);
  return m;
}

/// Central-difference gradient of loss() with respect to every entry of m (perturbed in
/// place and restored).
template <class F>
md numeric_grad(md& m, F&& loss, double h = 1e-5) {
  md g(m.rows(), m.cols());
  for (ix i = 0; i < m.size(); ++i) {
    const double old = m.data()[i];
    m.data()[i] = old + h;
    const double up = loss();
    m.data()[i] = old - h;
    const double down = loss();
    m.data()[i] = old;
    g.data()[i] = (up - down) / (2 * h);
  }
  return g;
}

/// max |a - b| / max(1, max |b|): small when the analytic and numeric gradients agree.
inline double rel_error(const md& a, const md& b) {
  const double scale = std::max(1.0, b.cwiseAbs().maxCoeff());
  return (a - b).cwiseAbs().maxCoeff() / scale;
}

/// L = sum(y o r): a scalar loss whose gradient with respect to y is r.
inline double dot(const md& y, const md& r) { return (y.array() * r.array()).sum(); }

}  // namespace tern_test

#include <catch2/catch.hpp>
#include <map>
#include <string_view>

#include "tern/core/parameter.hpp"

namespace tern_test {

/// Checks, by central differences in double, the dx returned by layer.backward and every
/// parameter gradient it accumulates, for the loss L = sum(fwd(layer, x) o r) with a fixed
/// random r. fwd(layer, x) runs the layer's forward (lets the caller pass a sequence length).
template <class L, class Fwd>
void check_layer_gradients(L& layer, md x, Fwd fwd, double tol = 1e-7) {
  const md y0 = fwd(layer, x);
  const md r = random_matrix(y0.rows(), y0.cols(), 99);
  layer.for_each_parameter([](std::string_view, tern::parameter<double>& p) { p.zero_grad(); });
  fwd(layer, x);
  const md dx = layer.backward(r);
  std::map<std::string, md> grads;
  layer.for_each_parameter([&](std::string_view name, tern::parameter<double>& p) { grads[std::string(name)] = p.grad; });
  auto loss = [&] { return dot(fwd(layer, x), r); };
  {
    INFO("dx");
    CHECK(rel_error(dx, numeric_grad(x, loss)) < tol);
  }
  std::size_t n = 0;
  layer.for_each_parameter([&](std::string_view name, tern::parameter<double>& p) {
    INFO("parameter " << name);
    CHECK(rel_error(grads[std::string(name)], numeric_grad(p.value, loss)) < tol);
    ++n;
  });
  CHECK(n == grads.size());
  CHECK(n > 0);
}

}  // namespace tern_test
