#pragma once
// A Hugging Face Llama-family config.json, and its translation to tern::transformer_config.
//
//   config.json field          default     tern                       refused (std::runtime_error)
//   model_type                 (required)  -                          anything but "llama"
//   hidden_size                (required)  dim
//   intermediate_size          (required)  ffn_hidden
//   num_hidden_layers          (required)  n_layers
//   num_attention_heads        (required)  n_heads
//   num_key_value_heads        heads       n_kv_heads                 not dividing the heads
//   head_dim                   D / heads   (implied)                  any other value
//   vocab_size                 (required)  vocab
//   max_position_embeddings    2048        max_seq (capped by the caller)
//   rms_norm_eps               1e-6        norm_eps                   <= 0
//   rope_theta                 10000       rope_base                  <= 1
//   initializer_range          0.02        init_std
//   tie_word_embeddings        false       see below
//   hidden_act                 "silu"      (SwiGLU)                   anything else
//   attention_bias, mlp_bias   false       -                          true (tern has no biases)
//   rope_scaling               null        -                          any scaling
//   sliding_window             null        -                          any window
//   attention_dropout          0           -                          non-zero
// Other keys (bos_token_id, torch_dtype, transformers_version, ...) are kept verbatim in
// `raw` and written back on export. Errors name the file and the field.
//
// Tied embeddings: tern's models always own a separate head. Import copies the embedding into
// the head ("untied by copying"); export writes the tied layout again when asked and the head
// still equals the embedding bit for bit (hf/llama_export.hpp).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "tern/nn/transformer.hpp"

namespace tern::hf {

struct llama_config {
  index hidden_size = 0, intermediate_size = 0, num_hidden_layers = 0, num_attention_heads = 0;
  index num_key_value_heads = 0, head_dim = 0, vocab_size = 0, max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6, rope_theta = 10000.0, initializer_range = 0.02;
  bool tie_word_embeddings = false;
  std::int64_t bos_token_id = -1, eos_token_id = -1;  ///< -1: not given (the first id if a list)
  nlohmann::json raw = nlohmann::json::object();     ///< the whole file, for export

  /// The transformer of these sizes; max_seq caps max_position_embeddings (0: no cap).
  transformer_config to_transformer_config(index max_seq = 0) const {
    transformer_config c;
    c.vocab = vocab_size;
    c.dim = hidden_size;
    c.n_layers = num_hidden_layers;
    c.n_heads = num_attention_heads;
    c.n_kv_heads = num_key_value_heads;
    c.ffn_hidden = intermediate_size;
    c.max_seq = max_seq > 0 ? std::min(max_seq, max_position_embeddings) : max_position_embeddings;
    c.rope_base = rope_theta;
    c.norm_eps = rms_norm_eps;
    c.init_std = initializer_range;
    c.validate();
    return c;
  }

  /// A config for a tern model of config c (model_type llama, SwiGLU, no biases).
  static llama_config from_transformer_config(const transformer_config& c) {
    llama_config l;
    l.hidden_size = c.dim;
    l.intermediate_size = c.ffn_hidden;
    l.num_hidden_layers = c.n_layers;
    l.num_attention_heads = c.n_heads;
    l.num_key_value_heads = c.n_kv_heads;
    l.head_dim = c.dim / c.n_heads;
    l.vocab_size = c.vocab;
    l.max_position_embeddings = c.max_seq;
    l.rms_norm_eps = c.norm_eps;
    l.rope_theta = c.rope_base;
    l.initializer_range = c.init_std;
    l.raw = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"hidden_act", "silu"},
             {"attention_bias", false}, {"mlp_bias", false}, {"rope_scaling", nullptr}, {"torch_dtype", "float32"}};
    return l;
  }

  /// raw with every field above set from the struct: the config.json to write.
  nlohmann::json to_json() const {
    nlohmann::json j = raw;
    j["model_type"] = "llama";
    j["hidden_size"] = hidden_size;
    j["intermediate_size"] = intermediate_size;
    j["num_hidden_layers"] = num_hidden_layers;
    j["num_attention_heads"] = num_attention_heads;
    j["num_key_value_heads"] = num_key_value_heads;
    j["head_dim"] = head_dim;
    j["vocab_size"] = vocab_size;
    j["max_position_embeddings"] = max_position_embeddings;
    j["rms_norm_eps"] = rms_norm_eps;
    j["rope_theta"] = rope_theta;
    j["initializer_range"] = initializer_range;
    j["tie_word_embeddings"] = tie_word_embeddings;
    if (bos_token_id >= 0 && !j.contains("bos_token_id")) j["bos_token_id"] = bos_token_id;
    if (eos_token_id >= 0 && !j.contains("eos_token_id")) j["eos_token_id"] = eos_token_id;
    return j;
  }
};

/// Parses config.json text; `file` names it in errors.
inline llama_config parse_llama_config(std::string_view text, const std::string& file) {
  using nlohmann::json;
  const auto fail = [&](const std::string& msg) -> void { throw std::runtime_error("config '" + file + "': " + msg); };
  json j;
  try {
    j = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    fail(std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) fail("not a JSON object");
  llama_config c;
  c.raw = j;
  const auto integer = [&](const char* key, index fallback, bool required) -> index {
    if (!j.contains(key) || j[key].is_null()) {
      if (required) fail(std::string(key) + ": missing (required)");
      return fallback;
    }
    const auto& v = j[key];
    if (!v.is_number_integer() || v.get<std::int64_t>() <= 0)
      fail(std::string(key) + ": must be a positive integer, got " + v.dump());
    return index(v.get<std::int64_t>());
  };
  const auto number = [&](const char* key, double fallback) -> double {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    if (!j[key].is_number()) fail(std::string(key) + ": must be a number, got " + j[key].dump());
    return j[key].get<double>();
  };
  const auto flag = [&](const char* key, bool fallback) -> bool {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    if (!j[key].is_boolean()) fail(std::string(key) + ": must be true or false, got " + j[key].dump());
    return j[key].get<bool>();
  };
  if (!j.contains("model_type") || !j["model_type"].is_string()) fail("model_type: missing (a Llama config has \"llama\")");
  const std::string type = j["model_type"].get<std::string>();
  if (type != "llama") fail("model_type: \"" + type + "\" is not supported (tern imports \"llama\")");
  c.hidden_size = integer("hidden_size", 0, true);
  c.intermediate_size = integer("intermediate_size", 0, true);
  c.num_hidden_layers = integer("num_hidden_layers", 0, true);
  c.num_attention_heads = integer("num_attention_heads", 0, true);
  c.num_key_value_heads = integer("num_key_value_heads", c.num_attention_heads, false);
  c.vocab_size = integer("vocab_size", 0, true);
  c.max_position_embeddings = integer("max_position_embeddings", 2048, false);
  if (c.hidden_size % c.num_attention_heads != 0)
    fail("num_attention_heads: " + std::to_string(c.num_attention_heads) + " does not divide hidden_size " +
         std::to_string(c.hidden_size));
  c.head_dim = integer("head_dim", c.hidden_size / c.num_attention_heads, false);
  if (c.head_dim != c.hidden_size / c.num_attention_heads)
    fail("head_dim: " + std::to_string(c.head_dim) + " differs from hidden_size / num_attention_heads = " +
         std::to_string(c.hidden_size / c.num_attention_heads) + " (not supported)");
  if (c.head_dim % 2 != 0) fail("head_dim: " + std::to_string(c.head_dim) + " is odd (RoPE needs an even head width)");
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    fail("num_key_value_heads: " + std::to_string(c.num_key_value_heads) + " does not divide num_attention_heads " +
         std::to_string(c.num_attention_heads));
  c.rms_norm_eps = number("rms_norm_eps", 1e-6);
  if (!(c.rms_norm_eps > 0) || !std::isfinite(c.rms_norm_eps)) fail("rms_norm_eps: must be > 0, got " + j["rms_norm_eps"].dump());
  c.rope_theta = number("rope_theta", 10000.0);
  if (!(c.rope_theta > 1) || !std::isfinite(c.rope_theta)) fail("rope_theta: must be > 1, got " + j["rope_theta"].dump());
  c.initializer_range = number("initializer_range", 0.02);
  if (!(c.initializer_range > 0)) c.initializer_range = 0.02;
  c.tie_word_embeddings = flag("tie_word_embeddings", false);
  if (j.contains("hidden_act") && !j["hidden_act"].is_null() && j["hidden_act"] != "silu")
    fail("hidden_act: " + j["hidden_act"].dump() + " is not supported (tern's MLP is SwiGLU, \"silu\")");
  if (flag("attention_bias", false)) fail("attention_bias: true is not supported (tern's projections have no bias)");
  if (flag("mlp_bias", false)) fail("mlp_bias: true is not supported (tern's projections have no bias)");
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null())
    fail("rope_scaling: " + j["rope_scaling"].dump() + " is not supported (tern's RoPE is unscaled)");
  if (j.contains("sliding_window") && !j["sliding_window"].is_null())
    fail("sliding_window: " + j["sliding_window"].dump() + " is not supported (tern's attention is full causal)");
  if (number("attention_dropout", 0.0) != 0.0) fail("attention_dropout: must be 0 (tern has no dropout)");
  const auto token_id = [&](const char* key) -> std::int64_t {
    if (!j.contains(key)) return -1;
    const auto& v = j[key];
    if (v.is_number_integer()) return v.get<std::int64_t>();
    if (v.is_array() && !v.empty() && v[0].is_number_integer()) return v[0].get<std::int64_t>();
    return -1;
  };
  c.bos_token_id = token_id("bos_token_id");
  c.eos_token_id = token_id("eos_token_id");
  return c;
}

/// Reads `<dir>/config.json` (or the file itself when `path` is a file).
inline llama_config read_llama_config(const std::string& path) {
  namespace fs = std::filesystem;
  if (!fs::exists(path))
    throw std::runtime_error("config '" + path + "': no such directory or file (expected a Hugging Face checkpoint "
                             "directory holding config.json)");
  const std::string file = fs::is_directory(path) ? (fs::path(path) / "config.json").string() : path;
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("config '" + file + "': cannot open the file");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_llama_config(text, file);
}

}  // namespace tern::hf
