#pragma once
// A ternary tern::transformer (qat_policy, or the paper's extra_norm_policy) written in the
// layout of transformers' BitNet integration, offline quantization mode, with
// use_rms_norm = true when the projections carry the extra RMSNorm:
//
//   <dir>/config.json          the Llama config plus
//       "quantization_config": {"quant_method": "bitnet", "linear_class": "bitlinear",
//                               "quantization_mode": "offline", "use_rms_norm": true|false,
//                               "rms_norm_eps": <norm_eps>, "modules_to_not_convert": ["lm_head"]}
//   <dir>/model.safetensors    for every projection P = model.layers.N.{self_attn.{q,k,v,o}_proj,
//                              mlp.{gate,up,down}_proj}:
//       P.weight          U8 [ceil(out/4), in]: packed row r holds the codes of rows r, R + r,
//                         2R + r, 3R + r (R = ceil(out/4)) in bit pairs 0-1, 2-3, 4-5, 6-7,
//                         each as w + 1 in {0, 1, 2} (rows past `out` are 0 bits)
//       P.weight_scale    [1] = 1 / beta: the integration divides, y = (x_q . w) / (s_x * s_w)
//                         with s_x = 127 / absmax(x) per token and s_w = weight_scale, so
//                         y = (x_q . w) * absmax / 127 * beta, tern's integer product exactly
//       P.rms_norm.weight [in], the extra norm's gain (use_rms_norm only; ones for a gain-free norm)
//   embeddings, the block norms, the final norm and lm_head as in the Llama layout, in opt.dtype.
// Requirements (std::invalid_argument naming the projection otherwise): ternary weights with
// one scale per tensor (absmean_ternary<per_tensor>), absmax int8 activations, the same norm
// kind on every projection, a full-precision head. The weights are exported fully quantized
// (lambda = 1), whatever lambda the model is at.
#include <cmath>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "tern/hf/llama_export.hpp"
#include "tern/nn/no_norm.hpp"
#include "tern/quant/absmax_int8.hpp"
#include "tern/quant/identity_quantizer.hpp"

namespace tern::hf {

namespace detail {
template <class Q>
struct is_bitnet_activation : std::false_type {};
template <class Ste>
struct is_bitnet_activation<absmax_int8<round_half_even, Ste>> : std::true_type {};
}  // namespace detail

struct bitnet_export_options {
  safetensors_dtype dtype = safetensors_dtype::BF16;  ///< of the non-packed tensors and scales
};

/// The integration's packing of ternary codes (rows x cols, values in {-1, 0, 1}).
inline std::vector<std::uint8_t> pack_bitnet_rows(const matrix<std::int8_t>& codes) {
  const index out = codes.rows(), in = codes.cols(), packed_rows = (out + 3) / 4;
  std::vector<std::uint8_t> packed(std::size_t(packed_rows * in), 0);
  for (index r = 0; r < out; ++r) {
    const index pr = r % packed_rows, shift = 2 * (r / packed_rows);
    for (index c = 0; c < in; ++c) {
      const int w = codes(r, c);
      if (w < -1 || w > 1) throw std::invalid_argument("pack_bitnet_rows: code " + std::to_string(w) + " is not ternary");
      packed[std::size_t(pr * in + c)] |= std::uint8_t((w + 1) << shift);
    }
  }
  return packed;
}

template <class T, ModelPolicy Policy>
void export_bitnet(const std::string& dir, transformer<T, Policy>& model, llama_config config,
                   const bitnet_export_options& opt = {}) {
  namespace fs = std::filesystem;
  using head_linear = typename transformer<T, Policy>::head_type;
  static_assert(std::is_same_v<typename head_linear::weight_quantizer, identity_quantizer>,
                "export_bitnet: the BitNet layout keeps lm_head in full precision (modules_to_not_convert)");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!fs::is_directory(dir)) throw std::runtime_error("export_bitnet: cannot create directory '" + dir + "'");
  config = detail::refreshed(std::move(config), model.config());
  config.tie_word_embeddings = false;

  std::vector<std::vector<std::uint8_t>> bytes;
  std::vector<safetensors_entry> entries;
  int with_norm = 0, without_norm = 0;
  auto add = [&](std::string name, safetensors_dtype dtype, std::vector<std::int64_t> shape, std::vector<std::uint8_t> b) {
    bytes.push_back(std::move(b));
    entries.push_back({std::move(name), dtype, std::move(shape), {}});
  };
  auto add_floats = [&](const std::string& name, const matrix<T>& m, bool vector) {
    add(name, opt.dtype, vector ? std::vector<std::int64_t>{m.cols()} : std::vector<std::int64_t>{m.rows(), m.cols()},
        encode_floats(m, opt.dtype));
  };
  auto add_projection = [&](const std::string& prefix, auto& lin) {
    using L = std::remove_reference_t<decltype(lin)>;
    using WQ = typename L::weight_quantizer;
    using AQ = typename L::activation_quantizer;
    using N = typename L::norm_type;
    if constexpr (!CodeQuantizer<WQ> || std::is_same_v<WQ, identity_quantizer>) {
      throw std::invalid_argument("export_bitnet: " + prefix + " has full-precision weights (the BitNet layout is ternary)");
    } else {
      if constexpr (!detail::is_bitnet_activation<AQ>::value)
        throw std::invalid_argument("export_bitnet: " + prefix +
                                    " does not quantize activations as the integration does (absmax int8 per token, "
                                    "round half to even)");
      const quantized<T> q = lin.quantized_weights();
      if (q.scales.size() != 1)
        throw std::invalid_argument("export_bitnet: " + prefix + " has " + std::to_string(q.scales.size()) +
                                    " weight scales; the BitNet layout holds one per tensor (absmean_ternary<per_tensor>)");
      const index out = q.rows(), in = q.cols();
      add(prefix + ".weight", safetensors_dtype::U8, {(out + 3) / 4, in}, pack_bitnet_rows(q.codes));
      matrix<T> scale(1, 1);
      scale(0, 0) = T(1) / q.scales(0, 0);
      add_floats(prefix + ".weight_scale", scale, true);
      if constexpr (std::is_same_v<N, no_norm<T>>) {
        ++without_norm;
      } else if constexpr (N::gain_mode == gain::learned) {
        ++with_norm;
        add_floats(prefix + ".rms_norm.weight", lin.norm().gain_parameter().value, true);
      } else {
        ++with_norm;
        add_floats(prefix + ".rms_norm.weight", matrix<T>::Ones(1, in), true);
      }
    }
  };

  add_floats("model.embed_tokens.weight", model.embed().weight().value, false);
  for (index l = 0; l < model.n_layers(); ++l) {
    auto& b = model.layer(l);
    const std::string p = "model.layers." + std::to_string(l) + ".";
    if constexpr (requires { b.attn_norm().gain_parameter(); }) {
      add_floats(p + "input_layernorm.weight", b.attn_norm().gain_parameter().value, true);
      add_floats(p + "post_attention_layernorm.weight", b.mlp_norm().gain_parameter().value, true);
    } else {
      throw std::invalid_argument("export_bitnet: the block pre-norms must be RMSNorms with a learned gain (Llama's)");
    }
    add_projection(p + "self_attn.q_proj", b.attn().q());
    add_projection(p + "self_attn.k_proj", b.attn().k());
    add_projection(p + "self_attn.v_proj", b.attn().v());
    add_projection(p + "self_attn.o_proj", b.attn().o());
    add_projection(p + "mlp.gate_proj", b.mlp().gate());
    add_projection(p + "mlp.up_proj", b.mlp().up());
    add_projection(p + "mlp.down_proj", b.mlp().down());
  }
  if (with_norm > 0 && without_norm > 0)
    throw std::invalid_argument("export_bitnet: some projections have the extra RMSNorm and some do not; the layout "
                                "has one use_rms_norm flag");
  if constexpr (requires { model.final_norm().gain_parameter(); })
    add_floats("model.norm.weight", model.final_norm().gain_parameter().value, true);
  else
    throw std::invalid_argument("export_bitnet: the final norm must be an RMSNorm with a learned gain");
  add_floats("lm_head.weight", model.head().weight().value, false);
  for (std::size_t i = 0; i < entries.size(); ++i) entries[i].bytes = bytes[i];

  config.raw["torch_dtype"] = detail::torch_dtype_name(opt.dtype);
  config.raw["quantization_config"] = {{"quant_method", "bitnet"},
                                       {"linear_class", "bitlinear"},
                                       {"quantization_mode", "offline"},
                                       {"use_rms_norm", with_norm > 0},
                                       {"rms_norm_eps", model.config().norm_eps},
                                       {"modules_to_not_convert", {"lm_head"}}};
  write_safetensors((fs::path(dir) / "model.safetensors").string(), entries, {{"format", "pt"}});
  detail::write_json_file((fs::path(dir) / "config.json").string(), config.to_json());
}

}  // namespace tern::hf
