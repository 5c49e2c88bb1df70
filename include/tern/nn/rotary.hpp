#pragma once
// Rotary position embeddings (RoPE, Su et al. 2021), "half split" pairing (as in GPT-NeoX and
// the Hugging Face Llama code): inside each head of width d, feature i is paired with
// feature i + d/2, for i < d/2, and the pair is rotated by the angle p * theta_i, where p is
// the token's position in its sequence and theta_i = base^(-2i/d).
//
//   forward   y1 = x1 cos(p theta) - x2 sin(p theta)      (x1 = x[i], x2 = x[i + d/2])
//             y2 = x1 sin(p theta) + x2 cos(p theta)
//   backward  the rotation is orthogonal, so dx = R(p)^T dy = R(-p) dy: the same formulas
//             with sin replaced by -sin (the inverse rotation). No parameters, nothing cached.
//
// Property that makes it a *relative* position code: <R(p) q, R(s) k> = <q, R(s - p) k>,
// so attention scores depend on positions only through their difference.
//
// Layout: x is (B*S) x (heads * d), row r holds token r % S of sequence r / S.
#include <cmath>
#include <stdexcept>
#include <string>

#include "tern/core/matrix.hpp"
#include "tern/core/shape_error.hpp"

namespace tern {

/// T: scalar type. The cos/sin tables are computed in double, then rounded to T.
template <class T>
class rotary {
 public:
  using scalar = T;

  /// head_dim: per-head width d (even); max_seq: longest sequence; base: 10000 in RoPE/Llama.
  rotary(index head_dim, index max_seq, double base = 10000.0)
      : head_dim_(head_dim), max_seq_(max_seq) {
    if (head_dim <= 0 || head_dim % 2 != 0)
      throw std::invalid_argument("rotary: head_dim must be positive and even, got " +
                                  std::to_string(head_dim));
    if (max_seq <= 0)
      throw std::invalid_argument("rotary: max_seq must be positive, got " + std::to_string(max_seq));
    const index half = head_dim / 2;
    cos_.resize(max_seq, half);
    sin_.resize(max_seq, half);
    for (index p = 0; p < max_seq; ++p) {
      for (index i = 0; i < half; ++i) {
        const double theta = std::pow(base, -2.0 * double(i) / double(head_dim));
        cos_(p, i) = T(std::cos(double(p) * theta));
        sin_(p, i) = T(std::sin(double(p) * theta));
      }
    }
  }

  index head_dim() const { return head_dim_; }
  index max_seq() const { return max_seq_; }

  /// Rotates every head of every token of x (B*S rows, a multiple of head_dim columns).
  matrix<T> forward(const matrix<T>& x, index seq_len) const { return apply(x, seq_len, T(1), "rotary::forward"); }

  /// The inverse rotation applied to dy: dL/dx.
  matrix<T> backward(const matrix<T>& dy, index seq_len) const { return apply(dy, seq_len, T(-1), "rotary::backward"); }

 private:
  matrix<T> apply(const matrix<T>& x, index seq_len, T sign, const char* where) const {
    if (seq_len <= 0 || seq_len > max_seq_)
      throw shape_error(std::string(where) + ": sequence length " + std::to_string(seq_len) +
                        " is outside [1, " + std::to_string(max_seq_) + "]");
    if (x.rows() % seq_len != 0 || x.cols() % head_dim_ != 0)
      throw shape_error(std::string(where) + ": input is " + detail::shape_str(x.rows(), x.cols()) +
                        ", expected (batch*" + std::to_string(seq_len) + ")x(heads*" +
                        std::to_string(head_dim_) + ")");
    const index half = head_dim_ / 2, batch = x.rows() / seq_len, heads = x.cols() / head_dim_;
    const auto c = cos_.topRows(seq_len).array();
    const auto s = (sign * sin_.topRows(seq_len)).eval();
    matrix<T> y(x.rows(), x.cols());
    for (index b = 0; b < batch; ++b) {
      for (index h = 0; h < heads; ++h) {
        const auto x1 = x.block(b * seq_len, h * head_dim_, seq_len, half).array();
        const auto x2 = x.block(b * seq_len, h * head_dim_ + half, seq_len, half).array();
        y.block(b * seq_len, h * head_dim_, seq_len, half).array() = x1 * c - x2 * s.array();
        y.block(b * seq_len, h * head_dim_ + half, seq_len, half).array() = x1 * s.array() + x2 * c;
      }
    }
    return y;
  }

  index head_dim_, max_seq_;
  matrix<T> cos_, sin_;  // max_seq x head_dim/2
};

}  // namespace tern
