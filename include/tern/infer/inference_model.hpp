#pragma once
// The frozen model: a Llama-style decoder (nn/transformer.hpp's architecture) with every
// projection in an inference format (frozen_linear), run over a KV cache.
//
//   forward over n new tokens t at positions p0 .. p0 + n - 1 (p0 = cache.size()):
//     x = E[t]                                                     n x D, FP32 embedding rows
//     per block l:
//       h = prenorm_1(x);  q = rope(Wq h), k = rope(Wk h), v = Wv h  (each W with its own input norm)
//       K_l[p0 + i] = k_i,  V_l[p0 + i] = v_i                        (the cache)
//       for head a (kv head g = a / (n_heads / n_kv_heads)), token i at position p = p0 + i:
//         s_j = (q_ia . K_l[j]_g) / sqrt(d),  j = 0 .. p              (causal: itself and the past)
//         c_ia = sum_j softmax(s)_j V_l[j]_g
//       x = x + Wo c
//       h = prenorm_2(x);  x = x + Wdown (silu(Wgate h) (.) Wup h)
//     logits = head(final_norm(x))      every row, or the last one only (generation)
// The same functions as the training forward at lambda = 1 (same order of float operations for
// norms, RoPE, softmax and SwiGLU); the differences are the kernels' exact int32 sums against
// Eigen's float ones and the rare int8 code that a folded norm rounds the other way.
//
// Threads: every projection runs on the kernels through the executor (prefill: the GEMM tiles,
// decode: the GEMV tiles); attention is split over heads on the same executor.
// The model is immutable after construction: any number of threads may run forward at once on
// one model, each with its own kv_cache and forward_scratch (see session.hpp).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tern/core/matrix.hpp"
#include "tern/core/shape_error.hpp"
#include "tern/infer/dense_f32.hpp"
#include "tern/infer/frozen_linear.hpp"
#include "tern/infer/frozen_norm.hpp"
#include "tern/infer/kv_cache.hpp"
#include "tern/kernels/executor.hpp"
#include "tern/nn/embedding.hpp"
#include "tern/nn/transformer_config.hpp"

namespace tern::infer {

/// One block of the frozen model.
struct frozen_block {
  frozen_norm attn_norm;
  frozen_linear q, k, v, o;
  frozen_norm mlp_norm;
  frozen_linear gate, up, down;
};

/// Where a projection's scales live (ternary and i8 formats; none for f32 and bf16).
enum class scale_granularity : std::uint32_t { none = 0, tensor = 1, row = 2, group = 3 };

/// What every projection of one role looks like (all layers agree; the model file stores it).
struct projection_desc {
  weight_format format = weight_format::f32;
  norm_kind norm = norm_kind::none;
  scale_granularity granularity = scale_granularity::none;
  index group = 0;  ///< columns per scale for scale_granularity::group, else 0
  friend bool operator==(const projection_desc&, const projection_desc&) = default;
};

/// The structure of a frozen model beyond its sizes: its norms and each role's projection.
struct model_desc {
  norm_kind block_norm = norm_kind::rms_gain;  ///< the two pre-norms of every block
  norm_kind final_norm = norm_kind::rms_gain;
  projection_desc attn_in, attn_out, mlp_in, mlp_out, head;  ///< q k v / o / gate up / down / head
  friend bool operator==(const model_desc&, const model_desc&) = default;
};

/// The description of one projection's weights.
inline projection_desc describe(const frozen_linear& l) {
  projection_desc d;
  d.format = l.format();
  d.norm = l.input_norm().kind();
  std::visit([&](const auto& w) {
    using W = std::decay_t<decltype(w)>;
    if constexpr (std::is_same_v<W, kernels::packed_ternary> || std::is_same_v<W, kernels::packed_ternary_base3>) {
      if (w.layout().groups > 1) {
        d.granularity = scale_granularity::group;
        d.group = w.layout().group;
      } else {  // one matrix-wide scale, or one per row (the same thing for a single row)
        d.granularity = w.scales().rows() == 1 && w.rows() > 1 ? scale_granularity::tensor : scale_granularity::row;
      }
    } else if constexpr (std::is_same_v<W, kernels::packed_int8>) {
      d.granularity = scale_granularity::row;
    }
  }, l.weight());
  return d;
}

/// Buffers of one forward (reused across calls; one per generation / thread).
struct forward_scratch {
  matrix<float> x, h, q, k, v, ctx, tmp, gate, up, last;
  matrix<float> logits;       ///< the result: n x vocab, or 1 x vocab
  std::vector<float> scores;  ///< n_heads x capacity attention weights
  matrix<float> rope_cos, rope_sin;  ///< cos, sin of p theta for the positions of this call
  index rope_from = -1;              ///< the first of those positions
  const void* rope_owner = nullptr;  ///< the model they were computed for
  linear_scratch lin;
};

class inference_model {
 public:
  /// Assembles a model from its parts, checking every shape against cfg (shape_error naming the
  /// layer and projection) and that all layers share one description. policy: a name for people.
  inference_model(const transformer_config& cfg, std::string policy, dense_f32 embedding, std::vector<frozen_block> layers,
                  frozen_norm final_norm, frozen_linear head)
      : cfg_((cfg.validate(), cfg)),
        policy_(std::move(policy)),
        embed_(std::move(embedding)),
        layers_(std::move(layers)),
        final_norm_(std::move(final_norm)),
        head_(std::move(head)) {
    check();
    head_dim_ = cfg_.dim / cfg_.n_heads;
    theta_.resize(static_cast<std::size_t>(head_dim_ / 2));
    for (index i = 0; i < head_dim_ / 2; ++i)  // as nn/rotary.hpp
      theta_[std::size_t(i)] = std::pow(cfg_.rope_base, -2.0 * double(i) / double(head_dim_));
  }

  const transformer_config& config() const { return cfg_; }
  const std::string& policy() const { return policy_; }
  const model_desc& desc() const { return desc_; }
  const dense_f32& embedding() const { return embed_; }
  const frozen_block& layer(index l) const { return layers_.at(static_cast<std::size_t>(l)); }
  const frozen_norm& final_norm() const { return final_norm_; }
  const frozen_linear& head() const { return head_; }
  index head_dim() const { return head_dim_; }
  index kv_dim() const { return cfg_.n_kv_heads * head_dim_; }

  /// The context a cache gets by default: max_seq, but at most 4096 positions (a long-context
  /// model's full KV cache would take gigabytes; ask make_cache for more).
  index default_capacity() const { return std::min<index>(cfg_.max_seq, 4096); }

  /// A cache for this model with room for `capacity` positions (default_capacity() if negative,
  /// at most config().max_seq).
  kv_cache make_cache(index capacity = -1) const {
    if (capacity < 0) capacity = default_capacity();
    if (capacity == 0 || capacity > cfg_.max_seq)
      throw std::invalid_argument("tern::infer::inference_model::make_cache: capacity " + std::to_string(capacity) +
                                  " is outside [1, max_seq = " + std::to_string(cfg_.max_seq) + "]");
    return kv_cache(cfg_.n_layers, capacity, kv_dim());
  }

  // ---- sizes ----
  /// Number of weights in the blocks' projections (the "linear weights").
  index linear_weight_count() const {
    index n = 0;
    for_each_block_linear([&](const frozen_linear& l) { n += l.in_features() * l.out_features(); });
    return n;
  }
  /// Bytes of the blocks' projections as stored: weights plus scales.
  std::size_t linear_bytes() const {
    std::size_t b = 0;
    for_each_block_linear([&](const frozen_linear& l) { b += l.weight_bytes() + l.scale_bytes(); });
    return b;
  }
  /// Resident bits per linear weight (weights + scales over the weight count).
  double bits_per_linear_weight() const { return 8.0 * double(linear_bytes()) / double(linear_weight_count()); }
  /// Bytes of the LM head (weights + scales).
  std::size_t head_bytes() const { return head_.weight_bytes() + head_.scale_bytes(); }
  /// Bytes of norm gains (pre-norms, extra norms, final norm).
  std::size_t norm_bytes() const {
    std::size_t b = final_norm_.gain().size();
    for (const auto& blk : layers_) {
      b += blk.attn_norm.gain().size() + blk.mlp_norm.gain().size();
      for (const frozen_linear* l : {&blk.q, &blk.k, &blk.v, &blk.o, &blk.gate, &blk.up, &blk.down})
        b += l->input_norm().gain().size();
    }
    return (b + head_.input_norm().gain().size()) * sizeof(float);
  }
  /// Every byte of weights the model holds (embedding included).
  std::size_t resident_bytes() const { return embed_.bytes() + linear_bytes() + head_bytes() + norm_bytes(); }
  /// Bytes one decode step reads with `cached` positions in the cache: every projection and the
  /// head, one embedding row, the norms, and the keys and values of the cached positions plus
  /// the new one.
  std::size_t decode_bytes(index cached) const {
    return linear_bytes() + head_bytes() + norm_bytes() + static_cast<std::size_t>(cfg_.dim) * sizeof(float) +
           2 * static_cast<std::size_t>(cfg_.n_layers) * static_cast<std::size_t>(cached + 1) *
               static_cast<std::size_t>(kv_dim()) * sizeof(float);
  }

  /// Below this many query-key multiply-adds per layer, attention runs on the calling thread.
  static constexpr index attention_parallel_work = index(1) << 16;

  // ---- forward ----
  /// Runs tokens (appended after the cache's positions) through the model; s.logits holds the
  /// logits of every new token (all_logits) or of the last one. Throws std::out_of_range for a
  /// token id outside the vocabulary and std::length_error when the cache has no room for them
  /// (the model and the cache are unchanged then).
  template <class Sel, kernels::executor Exec>
  void forward(std::span<const token> tokens, kv_cache& cache, forward_scratch& s, bool all_logits, Sel sel,
               Exec& ex) const {
    const index n = static_cast<index>(tokens.size());
    if (n == 0) throw std::invalid_argument("tern::infer::inference_model::forward: no tokens");
    if (cache.layers() != cfg_.n_layers || cache.kv_dim() != kv_dim() || cache.capacity() > cfg_.max_seq)
      throw std::invalid_argument("tern::infer::inference_model::forward: the cache was not made for this model");
    if (n > cache.free())
      throw std::length_error("tern::infer::inference_model::forward: " + std::to_string(n) + " tokens do not fit in the " +
                              std::to_string(cache.free()) + " free positions of the cache (capacity " +
                              std::to_string(cache.capacity()) + ")");
    for (index i = 0; i < n; ++i)
      if (tokens[std::size_t(i)] < 0 || tokens[std::size_t(i)] >= cfg_.vocab)
        throw std::out_of_range("tern::infer::inference_model::forward: token " + std::to_string(tokens[std::size_t(i)]) +
                                " at position " + std::to_string(i) + " is outside [0, " + std::to_string(cfg_.vocab) + ")");
    const index p0 = cache.size(), dim = cfg_.dim;
    s.x.resize(n, dim);
    for (index i = 0; i < n; ++i) s.x.row(i) = embed_.view().row(tokens[std::size_t(i)]);
    for (index l = 0; l < cfg_.n_layers; ++l) {
      const frozen_block& b = layers_[static_cast<std::size_t>(l)];
      b.attn_norm.apply(s.x, s.h);
      b.q.forward(s.h, s.q, s.lin, sel, ex);
      b.k.forward(s.h, s.k, s.lin, sel, ex);
      b.v.forward(s.h, s.v, s.lin, sel, ex);
      rope(s.q, p0, s);
      rope(s.k, p0, s);
      for (index i = 0; i < n; ++i) {
        std::copy_n(s.k.row(i).data(), kv_dim(), cache.keys(l, p0 + i));
        std::copy_n(s.v.row(i).data(), kv_dim(), cache.values(l, p0 + i));
      }
      if (ex.concurrency() > 1 && n * (p0 + n) * kv_dim() * (cfg_.n_heads / cfg_.n_kv_heads) < attention_parallel_work) {
        kernels::sequential_executor one;  // a few thousand multiply-adds: not worth a hand-off
        attend(cache, l, p0, n, s, one);
      } else {
        attend(cache, l, p0, n, s, ex);
      }
      b.o.forward(s.ctx, s.tmp, s.lin, sel, ex);
      s.x += s.tmp;
      b.mlp_norm.apply(s.x, s.h);
      b.gate.forward(s.h, s.gate, s.lin, sel, ex);
      b.up.forward(s.h, s.up, s.lin, sel, ex);
      s.gate.array() = s.gate.array() * (1.0f / (1.0f + (-s.gate.array()).exp())) * s.up.array();
      b.down.forward(s.gate, s.tmp, s.lin, sel, ex);
      s.x += s.tmp;
    }
    cache.advance(n);
    if (all_logits) {
      final_norm_.apply(s.x, s.h);
    } else {
      s.last = s.x.bottomRows(1);
      final_norm_.apply(s.last, s.h);
    }
    head_.forward(s.h, s.logits, s.lin, sel, ex);
  }

 private:
  template <class F>
  void for_each_block_linear(F&& f) const {
    for (const auto& b : layers_)
      for (const frozen_linear* l : {&b.q, &b.k, &b.v, &b.o, &b.gate, &b.up, &b.down}) f(*l);
  }

  /// Rotates every head of the n rows of x (token i at position p0 + i), half-split pairs.
  void rope(matrix<float>& x, index p0, forward_scratch& s) const {
    const index half = head_dim_ / 2, heads = x.cols() / head_dim_;
    if (s.rope_owner != this || s.rope_from != p0 || s.rope_cos.rows() != x.rows() || s.rope_cos.cols() != half) {
      // cos and sin of p theta_i for these positions, as nn/rotary.hpp computes its tables (in
      // double, rounded to float): no table over all max_seq positions is kept
      s.rope_cos.resize(x.rows(), half);
      s.rope_sin.resize(x.rows(), half);
      for (index i = 0; i < x.rows(); ++i)
        for (index j = 0; j < half; ++j) {
          s.rope_cos(i, j) = float(std::cos(double(p0 + i) * theta_[std::size_t(j)]));
          s.rope_sin(i, j) = float(std::sin(double(p0 + i) * theta_[std::size_t(j)]));
        }
      s.rope_from = p0;
      s.rope_owner = this;
    }
    for (index i = 0; i < x.rows(); ++i) {
      const float* c = s.rope_cos.row(i).data();
      const float* sn = s.rope_sin.row(i).data();
      for (index h = 0; h < heads; ++h) {
        float* r = x.row(i).data() + h * head_dim_;
        for (index j = 0; j < half; ++j) {
          const float a = r[j], b = r[j + half];
          r[j] = a * c[j] - b * sn[j];
          r[j + half] = a * sn[j] + b * c[j];
        }
      }
    }
  }

  /// s.ctx (n x n_heads d) = causal attention of s.q over the cache's positions 0 .. p0 + i.
  template <kernels::executor Exec>
  void attend(const kv_cache& cache, index l, index p0, index n, forward_scratch& s, Exec& ex) const {
    const index d = head_dim_, heads = cfg_.n_heads, rep = cfg_.n_heads / cfg_.n_kv_heads, cap = cache.capacity();
    const float scale = float(1.0 / std::sqrt(double(d)));
    s.ctx.resize(n, heads * d);
    s.scores.resize(static_cast<std::size_t>(heads * cap));
    ex.parallel_for(heads, [&](index a) {
      const index g = a / rep;
      float* sc = s.scores.data() + a * cap;
      for (index i = 0; i < n; ++i) {
        const index len = p0 + i + 1;
        const Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, 1>> q(s.q.row(i).data() + a * d, d);
        float mx = -std::numeric_limits<float>::infinity();
        for (index j = 0; j < len; ++j) {
          const Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, 1>> k(cache.keys(l, j) + g * d, d);
          sc[j] = scale * q.dot(k);
          mx = std::max(mx, sc[j]);
        }
        Eigen::Map<Eigen::Array<float, Eigen::Dynamic, 1>> e(sc, len);
        e = (e - mx).exp();  // Eigen's exp, as the training softmax
        const float sum = e.sum();
        auto c = s.ctx.row(i).segment(a * d, d);
        c.setZero();
        for (index j = 0; j < len; ++j) {
          const Eigen::Map<const Eigen::Matrix<float, 1, Eigen::Dynamic>> v(cache.values(l, j) + g * d, d);
          c += (sc[j] / sum) * v;
        }
      }
    });
  }

  void check() {
    const std::string where = "tern::infer::inference_model";
    const index d = cfg_.dim / cfg_.n_heads, qd = cfg_.n_heads * d, kvd = cfg_.n_kv_heads * d;
    if (embed_.rows() != cfg_.vocab || embed_.cols() != cfg_.dim)
      throw shape_error(where + ": the embedding is " + tern::detail::shape_str(embed_.rows(), embed_.cols()) +
                        ", the config needs " + tern::detail::shape_str(cfg_.vocab, cfg_.dim));
    if (static_cast<index>(layers_.size()) != cfg_.n_layers)
      throw shape_error(where + ": " + std::to_string(layers_.size()) + " layers, the config has " + std::to_string(cfg_.n_layers));
    const auto lin = [&](const frozen_linear& l, const std::string& name, index in, index out) {
      if (l.in_features() != in || l.out_features() != out)
        throw shape_error(where + ": " + name + " is " + tern::detail::shape_str(l.out_features(), l.in_features()) +
                          " (out x in), the config needs " + tern::detail::shape_str(out, in));
    };
    const auto norm = [&](const frozen_norm& nm, const std::string& name, norm_kind want) {
      if (nm.features() != cfg_.dim)
        throw shape_error(where + ": " + name + " has " + std::to_string(nm.features()) + " features, the config needs " +
                          std::to_string(cfg_.dim));
      if (nm.kind() != want)
        throw std::invalid_argument(where + ": " + name + " is a " + std::string(norm_kind_name(nm.kind())) +
                                    " norm but layer 0's is " + std::string(norm_kind_name(want)));
    };
    const auto same = [&](const frozen_linear& l, const std::string& name, const projection_desc& want) {
      if (!(describe(l) == want))
        throw std::invalid_argument(where + ": " + name + " is stored as " + std::string(format_name(l.format())) + " with a " +
                                    std::string(norm_kind_name(l.input_norm().kind())) +
                                    " input norm, unlike the same projection of layer 0: every layer must share one description");
    };
    if (layers_.empty()) throw shape_error(where + ": no layers");
    const frozen_block& b0 = layers_[0];
    desc_.block_norm = b0.attn_norm.kind();
    desc_.final_norm = final_norm_.kind();
    desc_.attn_in = describe(b0.q);
    desc_.attn_out = describe(b0.o);
    desc_.mlp_in = describe(b0.gate);
    desc_.mlp_out = describe(b0.down);
    desc_.head = describe(head_);
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      const frozen_block& b = layers_[i];
      const std::string p = "layers." + std::to_string(i) + ".";
      norm(b.attn_norm, p + "attn_norm", desc_.block_norm);
      norm(b.mlp_norm, p + "mlp_norm", desc_.block_norm);
      lin(b.q, p + "attn.q", cfg_.dim, qd);
      lin(b.k, p + "attn.k", cfg_.dim, kvd);
      lin(b.v, p + "attn.v", cfg_.dim, kvd);
      lin(b.o, p + "attn.o", qd, cfg_.dim);
      lin(b.gate, p + "mlp.gate", cfg_.dim, cfg_.ffn_hidden);
      lin(b.up, p + "mlp.up", cfg_.dim, cfg_.ffn_hidden);
      lin(b.down, p + "mlp.down", cfg_.ffn_hidden, cfg_.dim);
      same(b.q, p + "attn.q", desc_.attn_in);
      same(b.k, p + "attn.k", desc_.attn_in);
      same(b.v, p + "attn.v", desc_.attn_in);
      same(b.o, p + "attn.o", desc_.attn_out);
      same(b.gate, p + "mlp.gate", desc_.mlp_in);
      same(b.up, p + "mlp.up", desc_.mlp_in);
      same(b.down, p + "mlp.down", desc_.mlp_out);
    }
    norm(final_norm_, "norm", desc_.final_norm);
    lin(head_, "head", cfg_.dim, cfg_.vocab);
  }

  transformer_config cfg_;
  std::string policy_;
  dense_f32 embed_;
  std::vector<frozen_block> layers_;
  frozen_norm final_norm_;
  frozen_linear head_;
  model_desc desc_;
  index head_dim_ = 0;
  std::vector<double> theta_;  // RoPE frequencies base^(-2i/d), i < d/2
};

}  // namespace tern::infer
