#pragma once
// Llama weights in the Hugging Face (transformers) layout into a tern::transformer of any
// model policy, and the name mapping both ways.
//
//   tern parameter                 Hugging Face tensor
//   embed.weight                   model.embed_tokens.weight                    [vocab, D]
//   layers.N.attn_norm.gain        model.layers.N.input_layernorm.weight        [D]
//   layers.N.attn.{q,k,v,o}.weight model.layers.N.self_attn.{q,k,v,o}_proj.weight
//   layers.N.mlp_norm.gain         model.layers.N.post_attention_layernorm.weight
//   layers.N.mlp.{gate,up,down}.weight  model.layers.N.mlp.{gate,up,down}_proj.weight
//   <projection>.norm.gain         <projection tensor prefix>.rms_norm.weight   (the extra norm;
//                                  the name transformers' BitNet integration gives it)
//   norm.gain                      model.norm.weight
//   head.weight                    lm_head.weight (absent when tie_word_embeddings)
// Both use the half-split RoPE (feature i rotates with i + d/2 inside each head), so q and k
// rows need no permutation.
//
// import_llama(checkpoint, config, model) fills every parameter, converting F32/F16/BF16/F64
// to T, after checking everything (the model is unchanged on error). It throws
// std::runtime_error naming the tensor when: a tensor the model needs is missing; a shape
// differs; a checkpoint tensor has no place in the model (biases, extra norms the policy
// lacks, anything unknown; only the derived "...rotary_emb.inv_freq" buffers are skipped).
// A policy's extra norms that the checkpoint lacks (a plain Llama into extra_norm_policy) start
// at gain 1, as transformer::copy_parameters_from does; a tied checkpoint's head is a copy of
// the embedding.
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>

#include "tern/hf/llama_config.hpp"
#include "tern/hf/safetensors_checkpoint.hpp"
#include "tern/nn/transformer.hpp"

namespace tern::hf {

namespace detail {
inline bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
inline bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

/// "attn.q" -> "self_attn.q_proj", "mlp.gate" -> "mlp.gate_proj" (the module inside a layer).
inline std::string hf_projection(std::string_view tern_module) {
  static const std::map<std::string_view, std::string_view> m = {
      {"attn.q", "self_attn.q_proj"}, {"attn.k", "self_attn.k_proj"}, {"attn.v", "self_attn.v_proj"},
      {"attn.o", "self_attn.o_proj"}, {"mlp.gate", "mlp.gate_proj"},  {"mlp.up", "mlp.up_proj"},
      {"mlp.down", "mlp.down_proj"}};
  const auto it = m.find(tern_module);
  return it == m.end() ? std::string() : std::string(it->second);
}
}  // namespace detail

/// The Hugging Face name of a tern parameter; "" when the layout has no place for it.
inline std::string hf_name(std::string_view tern) {
  using detail::ends_with;
  using detail::starts_with;
  if (tern == "embed.weight") return "model.embed_tokens.weight";
  if (tern == "norm.gain") return "model.norm.weight";
  if (tern == "head.weight") return "lm_head.weight";
  if (tern == "head.norm.gain") return "lm_head.rms_norm.weight";
  if (!starts_with(tern, "layers.")) return "";
  const std::size_t dot = tern.find('.', 7);
  if (dot == std::string_view::npos) return "";
  const std::string layer(tern.substr(7, dot - 7));
  if (layer.empty() || layer.find_first_not_of("0123456789") != std::string::npos) return "";
  const std::string_view rest = tern.substr(dot + 1);
  const std::string prefix = "model.layers." + layer + ".";
  if (rest == "attn_norm.gain") return prefix + "input_layernorm.weight";
  if (rest == "mlp_norm.gain") return prefix + "post_attention_layernorm.weight";
  for (std::string_view suffix : {std::string_view(".weight"), std::string_view(".norm.gain")}) {
    if (!ends_with(rest, suffix)) continue;
    const std::string proj = detail::hf_projection(rest.substr(0, rest.size() - suffix.size()));
    if (proj.empty()) return "";
    return prefix + proj + (suffix == ".weight" ? ".weight" : ".rms_norm.weight");
  }
  return "";
}

/// Fills `model` from `ckpt` (see the file comment). `config` must be the checkpoint's
/// config (its tie_word_embeddings decides where the head comes from).
template <class T, ModelPolicy Policy>
void import_llama(const safetensors_checkpoint& ckpt, const llama_config& config, transformer<T, Policy>& model) {
  const std::string where = "import_llama '" + ckpt.source() + "'";
  const auto fail = [&](const std::string& msg) -> void { throw std::runtime_error(where + ": " + msg); };
  const transformer_config& have = model.config();
  const transformer_config want = config.to_transformer_config();
  const auto same = [&](const char* field, double a, double b) {
    if (a != b) fail(std::string("the model's transformer_config.") + field + " = " + std::to_string(a) +
                     " differs from the checkpoint config's " + std::to_string(b));
  };
  same("vocab", double(have.vocab), double(want.vocab));
  same("dim", double(have.dim), double(want.dim));
  same("n_layers", double(have.n_layers), double(want.n_layers));
  same("n_heads", double(have.n_heads), double(want.n_heads));
  same("n_kv_heads", double(have.n_kv_heads), double(want.n_kv_heads));
  same("ffn_hidden", double(have.ffn_hidden), double(want.ffn_hidden));
  same("rope_base", have.rope_base, want.rope_base);
  same("norm_eps", have.norm_eps, want.norm_eps);
  if (have.max_seq > want.max_seq)
    fail("the model's max_seq " + std::to_string(have.max_seq) + " exceeds max_position_embeddings " + std::to_string(want.max_seq));
  std::set<std::string> used;
  std::map<std::string, matrix<T>> values;  // tern name -> value, committed after every check
  model.for_each_parameter([&](std::string_view name, parameter<T>& p) {
    const std::string hf = hf_name(name);
    if (hf.empty()) fail("tern parameter '" + std::string(name) + "' has no place in the Hugging Face Llama layout");
    std::string source = hf;
    if (!ckpt.contains(hf)) {
      if (name == "head.weight" && config.tie_word_embeddings) {
        source = "model.embed_tokens.weight";
      } else if (detail::ends_with(name, ".norm.gain")) {  // an extra norm the checkpoint lacks
        values.emplace(std::string(name), matrix<T>::Ones(p.value.rows(), p.value.cols()));
        return;
      } else {
        fail("tensor '" + hf + "' (for tern parameter '" + std::string(name) + "') is missing from the checkpoint" +
             (name == "head.weight" ? " (and tie_word_embeddings is false)" : ""));
      }
    }
    const auto& t = ckpt.tensor(source);
    const bool vector_param = p.value.rows() == 1 && detail::ends_with(name, "gain");
    const bool shape_ok = vector_param ? (t.shape.size() == 1 && t.shape[0] == p.value.cols())
                                       : (t.shape.size() == 2 && t.shape[0] == p.value.rows() && t.shape[1] == p.value.cols());
    if (!shape_ok)
      fail("tensor '" + source + "' has shape " + t.shape_string() + " but tern parameter '" + std::string(name) + "' needs " +
           (vector_param ? "[" + std::to_string(p.value.cols()) + "]"
                         : "[" + std::to_string(p.value.rows()) + ", " + std::to_string(p.value.cols()) + "]"));
    values.emplace(std::string(name), ckpt.to_matrix<T>(source));
    used.insert(source);
  });
  if (config.tie_word_embeddings && ckpt.contains("lm_head.weight")) used.insert("lm_head.weight");  // a stored copy
  for (const auto& name : ckpt.names()) {
    if (used.count(name)) continue;
    if (detail::ends_with(name, ".rotary_emb.inv_freq")) continue;  // derived from rope_theta
    fail("checkpoint tensor '" + name + "' has no place in the model" +
         (detail::ends_with(name, ".bias") ? " (biases are not supported)" : ""));
  }
  model.for_each_parameter([&](std::string_view name, parameter<T>& p) {
    p.value = std::move(values.at(std::string(name)));
    p.zero_grad();
  });
}

/// Options of load_llama.
struct load_options {
  index max_seq = 0;       ///< caps max_position_embeddings (0: the config's value)
  std::uint64_t seed = 0;  ///< only seeds the constructor; every parameter is then imported
};

/// Reads `dir`'s config.json and safetensors weights into a new transformer<T, Policy>.
template <class T, ModelPolicy Policy = fp_policy>
transformer<T, Policy> load_llama(const std::string& dir, const load_options& opt = {}) {
  const llama_config config = read_llama_config(dir);
  const safetensors_checkpoint ckpt = safetensors_checkpoint::open(dir);
  transformer<T, Policy> model(config.to_transformer_config(opt.max_seq), opt.seed);
  import_llama(ckpt, config, model);
  return model;
}

}  // namespace tern::hf
