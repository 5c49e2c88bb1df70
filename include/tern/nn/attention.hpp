#pragma once
// Causal multi-head self-attention with rotary position embeddings and optional grouped-query
// heads (GQA: n_kv_heads divides n_heads; each group of n_heads / n_kv_heads query heads
// shares one key/value head; n_kv_heads == n_heads is plain multi-head attention).
//
// Shapes: x is (B*S) x D, rows grouped by sequence; d = D / n_heads is the head width.
//
//   forward   q = rope(Wq x)   k = rope(Wk x)   v = Wv x          (per token, per head)
//             for every sequence b and head h (kv head g = h / (n_heads / n_kv_heads)):
//               A = q_bh k_bg^T / sqrt(d)                          S x S
//               P = softmax_row(A + M),  M(i,j) = -inf for j > i   (causal mask)
//               c_bh = P v_bg                                      S x d
//             y = Wo c                                             (c: heads concatenated)
//   backward  dc = Wo.backward(dy)
//               dv_bg += P^T dc_bh
//               dP = dc_bh v_bg^T
//               dA = P o (dP - rowsum(P o dP))                     (softmax Jacobian; 0 where masked)
//               dq_bh = dA k_bg / sqrt(d)      dk_bg += dA^T q_bh / sqrt(d)
//             dx = Wq.backward(rope^-1(dq)) + Wk.backward(rope^-1(dk)) + Wv.backward(dv)
//
// Forward caches the rotated q and k, v and all attention matrices P (B * n_heads * S x S).
// (b, kv group) pairs are independent and are spread over OpenMP threads when enabled and the
// call is big enough; each writes its own blocks, so results do not depend on the thread count.
#include <cmath>
#include <stdexcept>
#include <string>
#include <string_view>

#include "tern/core/matrix.hpp"
#include "tern/core/parameter.hpp"
#include "tern/core/shape_error.hpp"
#include "tern/nn/visit_prefixed.hpp"
#include "tern/nn/rotary.hpp"

namespace tern {

/// T: scalar type. InLinear: the q/k/v projection type, OutLinear: the o projection type
/// (bit_linear instantiations, e.g. Policy::attn_in::linear<T>).
template <class T, class InLinear, class OutLinear>
class attention {
 public:
  using scalar = T;

  /// dim: model width D; n_heads: query heads (divides D, D / n_heads even for RoPE);
  /// n_kv_heads: key/value heads (divides n_heads); max_seq: longest sequence;
  /// rope_base: RoPE frequency base.
  attention(index dim, index n_heads, index n_kv_heads, index max_seq, double rope_base = 10000.0)
      : dim_(dim),
        n_heads_(n_heads),
        n_kv_heads_(n_kv_heads),
        head_dim_(checked_head_dim(dim, n_heads, n_kv_heads)),
        q_(dim, n_heads * head_dim_),
        k_(dim, n_kv_heads * head_dim_),
        v_(dim, n_kv_heads * head_dim_),
        o_(n_heads * head_dim_, dim),
        rope_(head_dim_, max_seq, rope_base) {}

  index dim() const { return dim_; }
  index n_heads() const { return n_heads_; }
  index n_kv_heads() const { return n_kv_heads_; }
  index head_dim() const { return head_dim_; }

  InLinear& q() { return q_; }
  InLinear& k() { return k_; }
  InLinear& v() { return v_; }
  OutLinear& o() { return o_; }

  /// Sets the quantization mix lambda on q, k, v and o.
  void set_lambda(T lambda) {
    q_.set_lambda(lambda);
    k_.set_lambda(lambda);
    v_.set_lambda(lambda);
    o_.set_lambda(lambda);
  }

  // ---- parameters: "q.*", "k.*", "v.*", "o.*" ----
  template <class F>
  void for_each_parameter(F&& f) {
    visit_prefixed(q_, "q", f);
    visit_prefixed(k_, "k", f);
    visit_prefixed(v_, "v", f);
    visit_prefixed(o_, "o", f);
  }

  // ---- forward ----
  /// x: (B*seq_len) x D. Returns (B*seq_len) x D.
  matrix<T> forward(const matrix<T>& x, index seq_len) {
    detail::check_shape("attention::forward", "input", x, -1, dim_);
    if (seq_len <= 0 || x.rows() % seq_len != 0)
      throw shape_error("attention::forward: input is " + detail::shape_str(x.rows(), x.cols()) +
                        ", its rows are not a multiple of the sequence length " + std::to_string(seq_len));
    seq_ = 0;  // a throwing step below leaves no usable cache behind
    batch_ = x.rows() / seq_len;
    qr_ = rope_.forward(q_.forward(x), seq_len);
    kr_ = rope_.forward(k_.forward(x), seq_len);
    v_cache_ = v_.forward(x);
    const index S = seq_len, d = head_dim_, rep = n_heads_ / n_kv_heads_;
    probs_.resize(batch_ * n_heads_ * S, S);
    matrix<T> ctx(x.rows(), n_heads_ * head_dim_);
    const T scale = T(1.0 / std::sqrt(double(d)));
    const index jobs = batch_ * n_kv_heads_;
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (parallel_worth_it(S))
#endif
    for (index job = 0; job < jobs; ++job) {
      const index b = job / n_kv_heads_, g = job % n_kv_heads_;
      const auto kb = kr_.block(b * S, g * d, S, d);
      const auto vb = v_cache_.block(b * S, g * d, S, d);
      for (index h = g * rep; h < (g + 1) * rep; ++h) {
        auto p = probs_.block((b * n_heads_ + h) * S, 0, S, S);
        p.noalias() = scale * (qr_.block(b * S, h * d, S, d) * kb.transpose());
        for (index i = 0; i < S; ++i) {  // causal softmax of row i over columns 0..i
          auto row = p.row(i).head(i + 1);
          row.array() = (row.array() - row.maxCoeff()).exp();
          row /= row.sum();
          p.row(i).tail(S - 1 - i).setZero();
        }
        ctx.block(b * S, h * d, S, d).noalias() = p * vb;
      }
    }
    matrix<T> y = o_.forward(ctx);
    seq_ = S;
    return y;
  }

  // ---- backward ----
  /// dy: (B*seq_len) x D, after forward. Returns dL/dx; accumulates parameter gradients.
  matrix<T> backward(const matrix<T>& dy) {
    if (seq_ == 0) throw std::logic_error("attention::backward: called before forward");
    detail::check_shape("attention::backward", "dy", dy, batch_ * seq_, dim_);
    const matrix<T> dctx = o_.backward(dy);
    const index S = seq_, d = head_dim_, rep = n_heads_ / n_kv_heads_;
    const T scale = T(1.0 / std::sqrt(double(d)));
    matrix<T> dq(dy.rows(), n_heads_ * d);
    matrix<T> dk = matrix<T>::Zero(dy.rows(), n_kv_heads_ * d);
    matrix<T> dv = matrix<T>::Zero(dy.rows(), n_kv_heads_ * d);
    const index jobs = batch_ * n_kv_heads_;
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (parallel_worth_it(S))
#endif
    for (index job = 0; job < jobs; ++job) {
      const index b = job / n_kv_heads_, g = job % n_kv_heads_;
      const auto kb = kr_.block(b * S, g * d, S, d);
      const auto vb = v_cache_.block(b * S, g * d, S, d);
      auto dkb = dk.block(b * S, g * d, S, d);
      auto dvb = dv.block(b * S, g * d, S, d);
      matrix<T> dp(S, S);
      for (index h = g * rep; h < (g + 1) * rep; ++h) {
        const auto p = probs_.block((b * n_heads_ + h) * S, 0, S, S);
        const auto dc = dctx.block(b * S, h * d, S, d);
        dvb.noalias() += p.transpose() * dc;
        dp.noalias() = dc * vb.transpose();
        const Eigen::Matrix<T, Eigen::Dynamic, 1> dot = (p.array() * dp.array()).rowwise().sum();
        dp = (p.array() * (dp.array().colwise() - dot.array())).matrix();  // now dA
        dq.block(b * S, h * d, S, d).noalias() = scale * (dp * kb);
        dkb.noalias() += scale * (dp.transpose() * qr_.block(b * S, h * d, S, d));
      }
    }
    matrix<T> dx = q_.backward(rope_.backward(dq, S));
    dx += k_.backward(rope_.backward(dk, S));
    dx += v_.backward(dv);
    return dx;
  }

 private:
  // Threads pay off only above a few hundred thousand flops per call; tiny shapes (tests,
  // single tokens) stay on the calling thread.
  bool parallel_worth_it(index seq) const { return batch_ * n_heads_ * seq * seq * head_dim_ >= (index(1) << 18); }

  static index checked_head_dim(index dim, index n_heads, index n_kv_heads) {
    if (dim <= 0 || n_heads <= 0 || n_kv_heads <= 0)
      throw std::invalid_argument("attention: dim, n_heads and n_kv_heads must be positive, got dim=" +
                                  std::to_string(dim) + " n_heads=" + std::to_string(n_heads) +
                                  " n_kv_heads=" + std::to_string(n_kv_heads));
    if (dim % n_heads != 0)
      throw std::invalid_argument("attention: n_heads=" + std::to_string(n_heads) +
                                  " does not divide dim=" + std::to_string(dim));
    if (n_heads % n_kv_heads != 0)
      throw std::invalid_argument("attention: n_kv_heads=" + std::to_string(n_kv_heads) +
                                  " does not divide n_heads=" + std::to_string(n_heads));
    if ((dim / n_heads) % 2 != 0)
      throw std::invalid_argument("attention: head width dim/n_heads=" + std::to_string(dim / n_heads) +
                                  " must be even for rotary embeddings");
    return dim / n_heads;
  }

  index dim_, n_heads_, n_kv_heads_, head_dim_;
  InLinear q_, k_, v_;
  OutLinear o_;
  rotary<T> rope_;
  // cache of the last forward
  index seq_ = 0, batch_ = 0;
  matrix<T> qr_, kr_, v_cache_;  // rotated q (N x H d), rotated k and v (N x Hkv d)
  matrix<T> probs_;              // B * H * S x S attention weights, sequence-major
};

}  // namespace tern
