#pragma once
// Plain-loop references for the nn tests, written from the formulas, independent of the
// Eigen code under test (double precision).
#include <cmath>
#include <vector>

#include "support/gradcheck.hpp"

namespace tern_test {

/// RoPE, half-split pairing: position p = r % seq, pair (i, i + d/2) rotated by p * base^(-2i/d).
inline md rope_ref(const md& x, ix seq, ix d, double base = 10000.0) {
  md y = x;
  const ix half = d / 2;
  for (ix r = 0; r < x.rows(); ++r)
    for (ix h = 0; h < x.cols() / d; ++h)
      for (ix i = 0; i < half; ++i) {
        const double a = double(r % seq) * std::pow(base, -2.0 * double(i) / double(d));
        const double x1 = x(r, h * d + i), x2 = x(r, h * d + i + half);
        y(r, h * d + i) = x1 * std::cos(a) - x2 * std::sin(a);
        y(r, h * d + i + half) = x1 * std::sin(a) + x2 * std::cos(a);
      }
  return y;
}

/// y = x W^T with loops.
inline md linear_ref(const md& x, const md& w) {
  md y = md::Zero(x.rows(), w.rows());
  for (ix r = 0; r < x.rows(); ++r)
    for (ix o = 0; o < w.rows(); ++o)
      for (ix i = 0; i < x.cols(); ++i) y(r, o) += x(r, i) * w(o, i);
  return y;
}

/// Causal attention with RoPE and grouped kv heads, FP weights (no norms, no quantizers).
inline md attention_ref(const md& x, ix seq, ix n_heads, ix n_kv, const md& wq, const md& wk,
                        const md& wv, const md& wo) {
  const ix d = wq.rows() / n_heads, rep = n_heads / n_kv, batch = x.rows() / seq;
  const md q = rope_ref(linear_ref(x, wq), seq, d), k = rope_ref(linear_ref(x, wk), seq, d);
  const md v = linear_ref(x, wv);
  md ctx = md::Zero(x.rows(), n_heads * d);
  for (ix b = 0; b < batch; ++b)
    for (ix h = 0; h < n_heads; ++h) {
      const ix g = h / rep;
      for (ix i = 0; i < seq; ++i) {
        std::vector<double> s(std::size_t(i + 1));
        double mx = -1e300, sum = 0;
        for (ix j = 0; j <= i; ++j) {
          double a = 0;
          for (ix c = 0; c < d; ++c) a += q(b * seq + i, h * d + c) * k(b * seq + j, g * d + c);
          s[std::size_t(j)] = a / std::sqrt(double(d));
          mx = std::max(mx, s[std::size_t(j)]);
        }
        for (auto& e : s) sum += (e = std::exp(e - mx));
        for (ix j = 0; j <= i; ++j)
          for (ix c = 0; c < d; ++c) ctx(b * seq + i, h * d + c) += s[std::size_t(j)] / sum * v(b * seq + j, g * d + c);
      }
    }
  return linear_ref(ctx, wo);
}

/// SwiGLU: down(silu(gate x) * up x).
inline md swiglu_ref(const md& x, const md& wg, const md& wu, const md& wd) {
  md a = linear_ref(x, wg), u = linear_ref(x, wu), h(a.rows(), a.cols());
  for (ix i = 0; i < a.size(); ++i) h.data()[i] = a.data()[i] / (1 + std::exp(-a.data()[i])) * u.data()[i];
  return linear_ref(h, wd);
}

}  // namespace tern_test
