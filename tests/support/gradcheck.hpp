#pragma once
// Test support: central finite differences for layers, in double.
//
// For a layer f and a fixed random "upstream gradient" R, the scalar loss is
//   L(x, params) = sum_ij f(x)_ij * R_ij,
// so dL/dx is exactly what backward(R) must return and dL/dp is what it must accumulate.
// Each partial is estimated by (L(v + h) - L(v - h)) / 2h with h = 1e-6, error O(h^2).
#include <cmath>
#include <functional>

#include <tern/core/matrix.hpp>

namespace tern::test {

/// Numerical gradient of the scalar function loss() with respect to every entry of v
/// (modified in place and restored).
inline matrix<double> numeric_gradient(matrix<double>& v, const std::function<double()>& loss,
                                       double h = 1e-6) {
  matrix<double> g(v.rows(), v.cols());
  for (index i = 0; i < v.rows(); ++i)
    for (index j = 0; j < v.cols(); ++j) {
      const double old = v(i, j);
      v(i, j) = old + h;
      const double lp = loss();
      v(i, j) = old - h;
      const double lm = loss();
      v(i, j) = old;
      g(i, j) = (lp - lm) / (2 * h);
    }
  return g;
}

/// Largest |a - b| relative to max(1, |b|), entrywise.
inline double max_rel_error(const matrix<double>& a, const matrix<double>& b) {
  double e = 0;
  for (index i = 0; i < a.rows(); ++i)
    for (index j = 0; j < a.cols(); ++j)
      e = std::max(e, std::abs(a(i, j) - b(i, j)) / std::max(1.0, std::abs(b(i, j))));
  return e;
}

}  // namespace tern::test
