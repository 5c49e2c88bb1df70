#pragma once
// ============================================================================================
// tern::transformer<T, Policy>: a Llama-style decoder-only language model.  API summary:
//
//   transformer_config cfg;            // vocab=256 dim=128 n_layers=4 n_heads=4 n_kv_heads=4
//   cfg.dim = 128; ...                 // ffn_hidden=352 max_seq=128 rope_base=1e4 init_std=0.02
//                                      // norm_eps=1e-6 (every RMSNorm of the model)
//   transformer<float, fp_policy> fp(cfg, /*seed=*/1);      // deterministic init from the seed
//   matrix<float> logits = fp.forward(tokens);              // tokens: matrix<token> B x S (or
//                                                           // forward(span, S)); logits (B*S) x vocab
//   cross_entropy<float> ce;  float loss = ce.forward(logits, targets);  // targets: B*S ids
//   fp.backward(ce.backward());        // accumulates into every parameter's grad
//   fp.for_each_parameter([](std::string_view name, parameter<float>& p) { ... });
//                                      // "embed.weight", "layers.0.attn_norm.gain",
//                                      // "layers.0.attn.q.weight", ..., "norm.gain", "head.weight"
//   fp.zero_grad();                    // (the model is Parameterized, not a Layer: forward
//                                      // takes token ids)  fp.parameter_count(), fp.layer(l)
//   transformer<float, extra_norm_policy> tq(cfg, 1);
//   tq.copy_parameters_from(fp);       // by name; extra norm gains set to 1
//   tq.set_lambda(schedule, step);     // lambda_l = schedule.lambda(step, l) on block l's
//                                      // q,k,v,o,gate,up,down; head gets layer n_layers-1's
//   tq.set_lambda(1.0);                // one global value (the default after construction,
//                                      // as in bit_linear);  tq.lambda(l) reads it back
//   Policies (nn/projection_policy.hpp): fp_policy, qat_policy, extra_norm_policy (the paper),
//   subln_policy, with_head<P, ternary_projection> (ternary head), or any user struct.
//   Losses: nn/cross_entropy.hpp (mean nats/token), nn/kd_loss.hpp (tau^2 KL(teacher||student)).
// ============================================================================================
//
//   forward   x_0 = E[tokens]                                  (B*S) x D
//             x_{l+1} = block_l(x_l, S)                        l = 0 .. n_layers-1
//             logits = head(final_norm(x_L))                   (B*S) x vocab
//   backward  the same chain in reverse: head, final norm, blocks last to first, then the
//             embedding rows (scatter-add). Parameter gradients accumulate (tern's rule).
//
// Initialisation (seeded, platform-independent): in for_each_parameter order, every weight
// matrix ~ N(0, init_std^2), except o and down projections, which are scaled by
// 1/sqrt(2 n_layers) (GPT-2's residual scaling); every norm gain = 1. Gains draw no random
// numbers, so models of different policies built from the same config and seed get the same
// weights.
#include <cmath>
#include <concepts>
#include <cstdint>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tern/core/matrix.hpp"
#include "tern/core/parameter.hpp"
#include "tern/core/shape_error.hpp"
#include "tern/nn/detail/normal_sampler.hpp"
#include "tern/nn/visit_prefixed.hpp"
#include "tern/nn/embedding.hpp"
#include "tern/nn/projection_policy.hpp"
#include "tern/nn/transformer_block.hpp"
#include "tern/nn/transformer_config.hpp"
#include "tern/schedule/schedule.hpp"

namespace tern {

/// T: scalar type (float for use, double for gradient checks).
/// Policy: a model policy (nn/projection_policy.hpp) choosing every projection and norm.
template <class T, ModelPolicy Policy = fp_policy>
class transformer {
 public:
  using scalar = T;
  using policy = Policy;
  using block_type = transformer_block<T, Policy>;
  using norm_type = typename Policy::template final_norm<T>;
  using head_type = typename Policy::head::template linear<T>;

  transformer(const transformer_config& cfg, std::uint64_t seed)
      : cfg_((cfg.validate(), cfg)), embed_(cfg.vocab, cfg.dim), final_norm_(cfg.dim), head_(cfg.dim, cfg.vocab) {
    layers_.reserve(std::size_t(cfg.n_layers));
    for (index l = 0; l < cfg.n_layers; ++l)
      layers_.emplace_back(cfg.dim, cfg.n_heads, cfg.n_kv_heads, cfg.ffn_hidden, cfg.max_seq, cfg.rope_base);
    for (auto& block : layers_) block.set_norm_eps(cfg.norm_eps);
    detail::set_norm_eps(final_norm_, cfg.norm_eps);
    detail::set_norm_eps(head_.norm(), cfg.norm_eps);
    lambdas_.assign(std::size_t(cfg.n_layers), 1.0);
    init(seed);
    set_lambda(1.0);  // bit_linear's default: fully quantized (a no-op for identity quantizers)
  }

  const transformer_config& config() const { return cfg_; }
  index n_layers() const { return cfg_.n_layers; }
  embedding<T>& embed() { return embed_; }
  block_type& layer(index l) { return layers_.at(std::size_t(l)); }
  norm_type& final_norm() { return final_norm_; }
  head_type& head() { return head_; }

  // ---- parameters ----
  template <class F>
  void for_each_parameter(F&& f) {
    visit_prefixed(embed_, "embed", f);
    for (std::size_t l = 0; l < layers_.size(); ++l) visit_prefixed(layers_[l], "layers." + std::to_string(l), f);
    visit_prefixed(final_norm_, "norm", f);
    visit_prefixed(head_, "head", f);
  }

  void zero_grad() {
    for_each_parameter([](std::string_view, parameter<T>& p) { p.zero_grad(); });
  }

  /// Total number of learnable scalars.
  index parameter_count() {
    index n = 0;
    for_each_parameter([&](std::string_view, parameter<T>& p) { n += p.value.size(); });
    return n;
  }

  // ---- quantization schedule ----
  /// Block l's seven projections get lambda = schedule.lambda(step, l); the head gets the
  /// last block's value (it only matters when the policy ternarizes the head).
  template <Schedule S>
  void set_lambda(const S& schedule, std::int64_t step) {
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      lambdas_[l] = double(schedule.lambda(step, int(l)));
      layers_[l].set_lambda(T(lambdas_[l]));
    }
    head_lambda_ = lambdas_.back();
    head_.set_lambda(T(head_lambda_));
  }

  /// One lambda for every projection (and the head).
  void set_lambda(double lambda) {
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      lambdas_[l] = lambda;
      layers_[l].set_lambda(T(lambda));
    }
    head_lambda_ = lambda;
    head_.set_lambda(T(lambda));
  }

  /// The lambda last set on block l.
  double lambda(index l) const { return lambdas_.at(std::size_t(l)); }
  double head_lambda() const { return head_lambda_; }

  // ---- forward ----
  /// tokens: B*seq_len ids, sequence after sequence. Returns (B*seq_len) x vocab logits;
  /// caches everything backward needs.
  matrix<T> forward(std::span<const token> tokens, index seq_len) {
    if (seq_len <= 0 || seq_len > cfg_.max_seq)
      throw shape_error("transformer::forward: sequence length " + std::to_string(seq_len) +
                        " is outside [1, max_seq=" + std::to_string(cfg_.max_seq) + "]");
    if (tokens.empty() || index(tokens.size()) % seq_len != 0)
      throw shape_error("transformer::forward: " + std::to_string(tokens.size()) +
                        " tokens is not a positive multiple of the sequence length " + std::to_string(seq_len));
    rows_ = 0;  // a throwing step below leaves no usable cache behind
    matrix<T> x = embed_.forward(tokens);
    for (auto& block : layers_) x = block.forward(x, seq_len);
    matrix<T> logits = head_.forward(final_norm_.forward(x));
    rows_ = index(tokens.size());
    return logits;
  }

  /// tokens: B x S (one sequence per row).
  matrix<T> forward(const matrix<token>& tokens) {
    return forward(std::span<const token>(tokens.data(), std::size_t(tokens.size())), tokens.cols());
  }

  // ---- backward ----
  /// dlogits: (B*S) x vocab, after forward. Accumulates every parameter's gradient.
  void backward(const matrix<T>& dlogits) {
    if (rows_ == 0) throw std::logic_error("transformer::backward: called before forward");
    detail::check_shape("transformer::backward", "dlogits", dlogits, rows_, cfg_.vocab);
    matrix<T> dx = final_norm_.backward(head_.backward(dlogits));
    for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) dx = it->backward(dx);
    embed_.backward(dx);
  }

  // ---- starting a fine-tune from another policy's weights ----
  /// Copies every parameter of `src` (same config, any policy; not modified) into this model
  /// by name. Parameters this model has and src lacks must be norm gains ("...gain"): they
  /// are set to 1. Throws std::invalid_argument naming the parameter if the configs differ,
  /// a shape differs, a non-gain parameter is missing, or a src parameter has no place here.
  template <ModelPolicy OtherPolicy>
  void copy_parameters_from(transformer<T, OtherPolicy>& src) {
    const char* where = "transformer::copy_parameters_from";
    if (!(src.config() == cfg_))
      throw std::invalid_argument(std::string(where) + ": the source model's config differs from this model's");
    std::map<std::string, parameter<T>*, std::less<>> theirs, mine;
    src.for_each_parameter([&](std::string_view name, parameter<T>& p) { theirs.emplace(std::string(name), &p); });
    for_each_parameter([&](std::string_view name, parameter<T>& p) { mine.emplace(std::string(name), &p); });
    // check everything first, so a refused copy leaves this model untouched
    for_each_parameter([&](std::string_view name, parameter<T>& p) {
      const auto it = theirs.find(name);
      if (it == theirs.end()) {
        if (!ends_with(name, "gain"))
          throw std::invalid_argument(std::string(where) + ": parameter " + std::string(name) +
                                      " has no counterpart in the source model");
        return;
      }
      detail::check_same_shape(where, std::string(name), p.value, "source " + std::string(name), it->second->value);
    });
    src.for_each_parameter([&](std::string_view name, parameter<T>&) {
      if (!mine.count(name))
        throw std::invalid_argument(std::string(where) + ": source parameter " + std::string(name) +
                                    " has no counterpart in this model");
    });
    for (auto& [name, p] : mine) {
      const auto it = theirs.find(name);
      if (it == theirs.end()) p->value.setOnes();
      else p->value = it->second->value;
    }
  }

 private:
  static bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
  }

  void init(std::uint64_t seed) {
    detail::normal_sampler rng(seed);
    const double residual_std = cfg_.init_std / std::sqrt(2.0 * double(cfg_.n_layers));
    for_each_parameter([&](std::string_view name, parameter<T>& p) {
      if (ends_with(name, "gain")) {
        p.value.setOnes();
        return;
      }
      const double sd = (ends_with(name, "attn.o.weight") || ends_with(name, "mlp.down.weight")) ? residual_std : cfg_.init_std;
      for (index i = 0; i < p.value.size(); ++i) p.value.data()[i] = T(sd * rng.normal());
      p.zero_grad();
    });
  }

  transformer_config cfg_;
  embedding<T> embed_;
  std::vector<block_type> layers_;
  norm_type final_norm_;
  head_type head_;
  std::vector<double> lambdas_;
  double head_lambda_ = 1.0;
  index rows_ = 0;  // tokens in the last (successful) forward; 0: no cache
};

}  // namespace tern
