#pragma once
// SwiGLU feed-forward network (Shazeer 2020; the Llama MLP).
//
//   forward   a = W_gate x,  u = W_up x                     (N x F each)
//             h = silu(a) o u,   silu(a) = a * sigma(a)
//             y = W_down h                                  (N x D)
//   backward  dh = W_down.backward(dy)
//             da = dh o u o silu'(a),   silu'(a) = sigma(a) (1 + a (1 - sigma(a)))
//             du = dh o silu(a)
//             dx = W_gate.backward(da) + W_up.backward(du)
//
// Forward caches a, u and sigma(a).
#include <stdexcept>
#include <string_view>

#include "tern/core/matrix.hpp"
#include "tern/core/parameter.hpp"
#include "tern/core/shape_error.hpp"
#include "tern/nn/visit_prefixed.hpp"

namespace tern {

/// T: scalar type. InLinear: the gate/up projection type; OutLinear: the down projection type.
template <class T, class InLinear, class OutLinear>
class swiglu_mlp {
 public:
  using scalar = T;

  /// dim: model width D; hidden: inner width F.
  swiglu_mlp(index dim, index hidden) : dim_(dim), hidden_(hidden), gate_(dim, hidden), up_(dim, hidden), down_(hidden, dim) {}

  index dim() const { return dim_; }
  index hidden() const { return hidden_; }
  InLinear& gate() { return gate_; }
  InLinear& up() { return up_; }
  OutLinear& down() { return down_; }

  /// Sets the quantization mix lambda on gate, up and down.
  void set_lambda(T lambda) {
    gate_.set_lambda(lambda);
    up_.set_lambda(lambda);
    down_.set_lambda(lambda);
  }

  // ---- parameters: "gate.*", "up.*", "down.*" ----
  template <class F>
  void for_each_parameter(F&& f) {
    visit_prefixed(gate_, "gate", f);
    visit_prefixed(up_, "up", f);
    visit_prefixed(down_, "down", f);
  }

  // ---- forward ----
  matrix<T> forward(const matrix<T>& x) {
    detail::check_shape("swiglu_mlp::forward", "input", x, -1, dim_);
    has_cache_ = false;  // a throwing step below leaves no usable cache behind
    a_ = gate_.forward(x);
    u_ = up_.forward(x);
    sig_ = (T(1) / (T(1) + (-a_.array()).exp())).matrix();
    matrix<T> y = down_.forward((a_.array() * sig_.array() * u_.array()).matrix());
    has_cache_ = true;
    return y;
  }

  // ---- backward ----
  matrix<T> backward(const matrix<T>& dy) {
    if (!has_cache_) throw std::logic_error("swiglu_mlp::backward: called before forward");
    detail::check_shape("swiglu_mlp::backward", "dy", dy, a_.rows(), dim_);
    const matrix<T> dh = down_.backward(dy);
    const auto s = sig_.array();
    const matrix<T> da = (dh.array() * u_.array() * s * (T(1) + a_.array() * (T(1) - s))).matrix();
    const matrix<T> du = (dh.array() * a_.array() * s).matrix();
    matrix<T> dx = gate_.backward(da);
    dx += up_.backward(du);
    return dx;
  }

 private:
  index dim_, hidden_;
  InLinear gate_, up_;
  OutLinear down_;
  matrix<T> a_, u_, sig_;  // cache: gate pre-activation, up output, sigma(a)
  bool has_cache_ = false;
};

}  // namespace tern
