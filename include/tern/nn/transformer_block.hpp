#pragma once
// Pre-norm residual transformer block (Llama layout):
//
//   forward   h = x + attn(norm_1(x), S)
//             y = h + mlp(norm_2(h))
//   backward  dh = dy + norm_2.backward(mlp.backward(dy))
//             dx = dh + norm_1.backward(attn.backward(dh))
//
// The projections, the pre-norms and their placement come from the model policy (see
// nn/projection_policy.hpp): attn_in (q,k,v), attn_out (o), mlp_in (gate,up), mlp_out (down),
// norm<T> (the two pre-norms). Children cache what they need; the block caches nothing.
// Parameter names: "attn_norm.*", "attn.{q,k,v,o}.*", "mlp_norm.*", "mlp.{gate,up,down}.*".
#include <string_view>

#include "tern/core/matrix.hpp"
#include "tern/nn/attention.hpp"
#include "tern/nn/projection_policy.hpp"
#include "tern/nn/visit_prefixed.hpp"
#include "tern/nn/swiglu_mlp.hpp"

namespace tern {

namespace detail {
/// norm.set_eps(eps) when the norm has an epsilon (rms_norm), nothing otherwise (no_norm).
template <class Norm>
void set_norm_eps(Norm& norm, double eps) {
  if constexpr (requires { norm.set_eps(eps); }) norm.set_eps(eps);
}
}  // namespace detail

/// T: scalar type; Policy: a model policy (projection_policy.hpp).
template <class T, ModelPolicy Policy>
class transformer_block {
 public:
  using scalar = T;
  using policy = Policy;
  using attention_type = attention<T, typename Policy::attn_in::template linear<T>,
                                   typename Policy::attn_out::template linear<T>>;
  using mlp_type = swiglu_mlp<T, typename Policy::mlp_in::template linear<T>,
                              typename Policy::mlp_out::template linear<T>>;
  using norm_type = typename Policy::template norm<T>;

  transformer_block(index dim, index n_heads, index n_kv_heads, index ffn_hidden, index max_seq,
                    double rope_base = 10000.0)
      : attn_norm_(dim), attn_(dim, n_heads, n_kv_heads, max_seq, rope_base), mlp_norm_(dim), mlp_(dim, ffn_hidden) {}

  attention_type& attn() { return attn_; }
  mlp_type& mlp() { return mlp_; }
  norm_type& attn_norm() { return attn_norm_; }
  norm_type& mlp_norm() { return mlp_norm_; }

  /// Sets eps on every norm of the block that has set_eps(double) (rms_norm): the two
  /// pre-norms and the input norms of the seven projections. Norms without it (no_norm) have
  /// no epsilon.
  void set_norm_eps(double eps) {
    detail::set_norm_eps(attn_norm_, eps);
    detail::set_norm_eps(mlp_norm_, eps);
    detail::set_norm_eps(attn_.q().norm(), eps);
    detail::set_norm_eps(attn_.k().norm(), eps);
    detail::set_norm_eps(attn_.v().norm(), eps);
    detail::set_norm_eps(attn_.o().norm(), eps);
    detail::set_norm_eps(mlp_.gate().norm(), eps);
    detail::set_norm_eps(mlp_.up().norm(), eps);
    detail::set_norm_eps(mlp_.down().norm(), eps);
  }

  /// Sets lambda on all seven projections of the block.
  void set_lambda(T lambda) {
    attn_.set_lambda(lambda);
    mlp_.set_lambda(lambda);
  }

  template <class F>
  void for_each_parameter(F&& f) {
    visit_prefixed(attn_norm_, "attn_norm", f);
    visit_prefixed(attn_, "attn", f);
    visit_prefixed(mlp_norm_, "mlp_norm", f);
    visit_prefixed(mlp_, "mlp", f);
  }

  /// x: (B*seq_len) x D.
  matrix<T> forward(const matrix<T>& x, index seq_len) {
    matrix<T> h = x + attn_.forward(attn_norm_.forward(x), seq_len);
    matrix<T> y = h + mlp_.forward(mlp_norm_.forward(h));
    return y;
  }

  matrix<T> backward(const matrix<T>& dy) {
    matrix<T> dh = dy + mlp_norm_.backward(mlp_.backward(dy));
    matrix<T> dx = dh + attn_norm_.backward(attn_.backward(dh));
    return dx;
  }

 private:
  norm_type attn_norm_;
  attention_type attn_;
  norm_type mlp_norm_;
  mlp_type mlp_;
};

}  // namespace tern
