#pragma once
// Small layers of the tests' own, so the training code is tested without the transformer:
//   tiny_mlp:  h = relu(x W1^T) * g (per-channel gain, 1 x H),  y = h W2^T
// Forward caches x, the pre-activation a = x W1^T and r = relu(a).
// Backward: dW2 += dy^T h;  dh = dy W2;  dg += colsum(dh .* r);  da = dh .* g .* [a > 0];
//           dW1 += da^T x;  dx = da W1.
#include <string_view>

#include "tern/core/layer.hpp"
#include "tern/core/parameter.hpp"
#include "tern/data/rng.hpp"

namespace tern_test {

template <class T>
struct tiny_mlp {
  using scalar = T;
  tern::parameter<T> w1, w2, g;
  tern::matrix<T> x_, a_, r_;

  tiny_mlp(tern::index in, tern::index hidden, tern::index out, std::uint64_t seed) {
    tern::rng r(seed);
    auto init = [&](tern::index rows, tern::index cols, double s) {
      tern::matrix<T> m(rows, cols);
      for (tern::index i = 0; i < m.size(); ++i) m.data()[i] = T(s * r.normal());
      return tern::parameter<T>(m);
    };
    w1 = init(hidden, in, 0.5);
    w2 = init(out, hidden, 0.5);
    g = tern::parameter<T>(tern::matrix<T>::Ones(1, hidden));
  }

  tern::matrix<T> forward(const tern::matrix<T>& x) {
    x_ = x;
    a_ = x * w1.value.transpose();
    r_ = a_.cwiseMax(T(0));
    tern::matrix<T> h = r_;
    h.array().rowwise() *= g.value.row(0).array();
    return h * w2.value.transpose();
  }

  tern::matrix<T> backward(const tern::matrix<T>& dy) {
    tern::matrix<T> h = r_;
    h.array().rowwise() *= g.value.row(0).array();
    w2.grad += dy.transpose() * h;
    tern::matrix<T> dh = dy * w2.value;
    g.grad += (dh.array() * r_.array()).colwise().sum().matrix();
    tern::matrix<T> da = dh;
    da.array().rowwise() *= g.value.row(0).array();
    da = (a_.array() > T(0)).select(da, T(0));
    w1.grad += da.transpose() * x_;
    return da * w1.value;
  }

  template <class F>
  void for_each_parameter(F&& f) {
    f(std::string_view("w1"), w1);
    f(std::string_view("w2"), w2);
    f(std::string_view("g"), g);
  }
};

static_assert(tern::Layer<tiny_mlp<float>>);

}  // namespace tern_test
