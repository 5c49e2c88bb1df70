#pragma once
// A tern::transformer written back in the Hugging Face Llama layout: `<dir>/config.json` and
// `<dir>/model.safetensors` (names: hf/llama_import.hpp), so that transformers'
// LlamaForCausalLM, or tern's own import, loads it.
//
// export_llama(dir, model, config, opt): config is the llama_config the model came from
// (read_llama_config), or llama_config::from_transformer_config(model.config()) for a model
// tern trained; its sizes are refreshed from the model and its other keys kept. Tensors are
// written as opt.dtype (F32 default; BF16, F16, F64). F32 export of an F32 import is bit for
// bit the checkpoint's tensors (tested); BF16 -> float -> BF16 is exact too.
// Tied embeddings: with opt.tie_word_embeddings (default: config.tie_word_embeddings) the head
// is left out and config.json says tied, which needs head == embedding bit for bit (else
// std::invalid_argument); without it lm_head.weight is written and tie_word_embeddings false.
// A parameter that has no place in a Llama (the extra norms of extra_norm_policy) is a
// std::invalid_argument naming it: such models are exported with hf/bitnet_export.hpp.
// Quantized policies export their latent full-precision weights.
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tern/hf/llama_config.hpp"
#include "tern/hf/llama_import.hpp"
#include "tern/io/safetensors.hpp"
#include "tern/nn/transformer.hpp"

namespace tern::hf {

struct llama_export_options {
  safetensors_dtype dtype = safetensors_dtype::F32;
  std::optional<bool> tie_word_embeddings;  ///< nullopt: as the config says
};

namespace detail {
inline std::string torch_dtype_name(safetensors_dtype d) {
  switch (d) {
    case safetensors_dtype::F32: return "float32";
    case safetensors_dtype::BF16: return "bfloat16";
    case safetensors_dtype::F16: return "float16";
    case safetensors_dtype::F64: return "float64";
    default: throw std::invalid_argument(std::string("export: dtype ") + dtype_name(d) + " is not a float type");
  }
}

/// Writes config.json atomically (temp file + rename) with every write checked.
inline void write_json_file(const std::string& path, const nlohmann::json& j) {
  const std::string text = j.dump(2) + "\n";
  tern::detail::checked_file_writer out(path, "export");
  out.write(text.data(), text.size());
  out.commit();
}

/// A model's config refreshed from its transformer_config.
inline llama_config refreshed(llama_config config, const transformer_config& c) {
  const llama_config fresh = llama_config::from_transformer_config(c);
  config.hidden_size = fresh.hidden_size;
  config.intermediate_size = fresh.intermediate_size;
  config.num_hidden_layers = fresh.num_hidden_layers;
  config.num_attention_heads = fresh.num_attention_heads;
  config.num_key_value_heads = fresh.num_key_value_heads;
  config.head_dim = fresh.head_dim;
  config.vocab_size = fresh.vocab_size;
  config.rms_norm_eps = fresh.rms_norm_eps;
  config.rope_theta = fresh.rope_theta;
  if (config.max_position_embeddings < c.max_seq) config.max_position_embeddings = c.max_seq;
  if (config.raw.empty()) config.raw = fresh.raw;
  return config;
}
}  // namespace detail

template <class T, ModelPolicy Policy>
void export_llama(const std::string& dir, transformer<T, Policy>& model, llama_config config,
                  const llama_export_options& opt = {}) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!fs::is_directory(dir)) throw std::runtime_error("export_llama: cannot create directory '" + dir + "'");
  config = detail::refreshed(std::move(config), model.config());
  const bool tie = opt.tie_word_embeddings.value_or(config.tie_word_embeddings);
  if (tie && !(model.head().weight().value == model.embed().weight().value))
    throw std::invalid_argument("export_llama: tied embeddings asked for, but the head differs from the embedding");
  config.tie_word_embeddings = tie;
  config.raw["torch_dtype"] = detail::torch_dtype_name(opt.dtype);

  std::vector<std::vector<std::uint8_t>> bytes;
  std::vector<safetensors_entry> entries;
  model.for_each_parameter([&](std::string_view name, parameter<T>& p) {
    const std::string hf = hf_name(name);
    if (hf.empty() || detail::ends_with(hf, ".rms_norm.weight"))
      throw std::invalid_argument("export_llama: parameter '" + std::string(name) +
                                  "' has no place in a Llama checkpoint (extra norms: use export_bitnet)");
    if (tie && name == "head.weight") return;
    bytes.push_back(encode_floats(p.value, opt.dtype));
    std::vector<std::int64_t> shape;
    if (detail::ends_with(name, "gain")) shape = {p.value.cols()};
    else shape = {p.value.rows(), p.value.cols()};
    entries.push_back({hf, opt.dtype, shape, bytes.back()});
  });
  // Entries hold spans into `bytes`: they are taken only after every vector is in place.
  for (std::size_t i = 0; i < entries.size(); ++i) entries[i].bytes = bytes[i];
  write_safetensors((fs::path(dir) / "model.safetensors").string(), entries, {{"format", "pt"}});
  detail::write_json_file((fs::path(dir) / "config.json").string(), config.to_json());
}

}  // namespace tern::hf
