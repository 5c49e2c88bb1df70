// A frozen ternary model out to GGUF (the llama architecture llama.cpp loads) and back into
// tern; the model read back computes what the original computes, up to its f16 block scales.
#include <tern/tern.hpp>

#include <iostream>

int main() {
  tern::transformer_config cfg;  // rows of 256 and 512 weights: whole TQ2_0 blocks
  cfg.dim = 256;
  cfg.n_layers = 2;
  cfg.n_heads = 4;
  cfg.n_kv_heads = 2;
  cfg.ffn_hidden = 512;
  cfg.max_seq = 32;
  tern::transformer<float, tern::qat_policy> model(cfg, /*seed=*/1);
  const tern::infer::inference_model frozen = tern::infer::freeze(model);

  tern::save_gguf("model.gguf", frozen);                          // llama or tern-llama
  tern::infer::inference_model m = tern::load_gguf("model.gguf");  // any llama / tern-llama file

  tern::kernels::sequential_executor ex;
  const std::vector<tern::token> prompt = {1, 2, 3};
  tern::infer::session a(frozen), b(m);
  const tern::matrix<float> la = a.forward(prompt, false, ex), lb = b.forward(prompt, false, ex);
  const float diff = (la - lb).cwiseAbs().maxCoeff(), scale = la.cwiseAbs().maxCoeff();
  std::cout << "architecture " << tern::gguf_architecture(frozen) << ", " << tern::infer::format_name(m.desc().attn_in.format) << " projections; "
            << "max |logit difference| " << diff << " of max |logit| " << scale << "\n";
  return diff <= 0.02f * scale ? 0 : 1;
}
