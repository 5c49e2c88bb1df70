#pragma once
// The sizes of a Llama-style transformer: shared by the training model (nn/transformer.hpp), the
// frozen inference model (infer/) and the model files (io/).
#include <stdexcept>
#include <string>

#include "tern/core/matrix.hpp"

namespace tern {

/// Sizes of a transformer. validate() throws std::invalid_argument naming the bad field.
struct transformer_config {
  index vocab = 256;       ///< vocabulary size (byte-level: 256)
  index dim = 128;         ///< model width D
  index n_layers = 4;      ///< number of blocks
  index n_heads = 4;       ///< query heads; dim / n_heads must be even (RoPE)
  index n_kv_heads = 4;    ///< key/value heads; divides n_heads (< n_heads: grouped-query)
  index ffn_hidden = 352;  ///< SwiGLU inner width
  index max_seq = 128;     ///< longest sequence forward accepts
  double rope_base = 10000.0;
  double init_std = 0.02;  ///< standard deviation of the initial weights
  double norm_eps = 1e-6;  ///< eps of every RMSNorm (pre-norms, final norm, extra norms); HF rms_norm_eps

  void validate() const {
    auto positive = [](index v, const char* name) {
      if (v <= 0) throw std::invalid_argument(std::string("transformer_config.") + name + " must be positive, got " + std::to_string(v));
    };
    positive(vocab, "vocab");
    positive(dim, "dim");
    positive(n_layers, "n_layers");
    positive(n_heads, "n_heads");
    positive(n_kv_heads, "n_kv_heads");
    positive(ffn_hidden, "ffn_hidden");
    positive(max_seq, "max_seq");
    if (dim % n_heads != 0 || (dim / n_heads) % 2 != 0)
      throw std::invalid_argument("transformer_config.n_heads: dim=" + std::to_string(dim) + " / n_heads=" +
                                  std::to_string(n_heads) + " must be an even integer (RoPE)");
    if (n_heads % n_kv_heads != 0)
      throw std::invalid_argument("transformer_config.n_kv_heads=" + std::to_string(n_kv_heads) +
                                  " must divide n_heads=" + std::to_string(n_heads));
    if (!(rope_base > 1.0)) throw std::invalid_argument("transformer_config.rope_base must be > 1");
    if (!(init_std > 0.0)) throw std::invalid_argument("transformer_config.init_std must be > 0");
    if (!(norm_eps > 0.0 && norm_eps < 1.0)) throw std::invalid_argument("transformer_config.norm_eps must be in (0, 1)");
  }

  friend bool operator==(const transformer_config&, const transformer_config&) = default;
};

}  // namespace tern
