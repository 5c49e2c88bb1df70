// Hugging Face checkpoints with tern::hf, as docs/huggingface.md shows them: a Llama checkpoint
// directory (written here first, from a small random model, so the example needs no download)
// is read with its tokenizer, runs forward in full precision, becomes the student of the paper's
// policy, and is written back in the Llama layout and in transformers' BitNet layout.
// Runs in about a second; CI runs it.
#include <tern/hf.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>

namespace {

// A stand-in for a downloaded checkpoint: config.json, model.safetensors, tokenizer.json.
void write_example_checkpoint(const std::string& dir) {
  tern::transformer_config cfg;
  cfg.dim = 32;
  cfg.n_layers = 2;
  cfg.n_heads = 4;
  cfg.n_kv_heads = 2;
  cfg.ffn_hidden = 96;
  cfg.max_seq = 64;
  const auto tokenizer = tern::hf::train_byte_level_bpe("to be or not to be, that is the question\n", 20, {"<|endoftext|>"});
  cfg.vocab = 256 + 20 + 1;
  tern::transformer<float> random(cfg, 7);
  tern::hf::export_llama(dir, random, tern::hf::llama_config::from_transformer_config(cfg));
  std::ofstream(std::filesystem::path(dir) / "tokenizer.json") << tokenizer.dump();
}

}  // namespace

int main() {
  const std::string dir = (std::filesystem::temp_directory_path() / "tern_example_llama").string();
  write_example_checkpoint(dir);

  // Load a Llama checkpoint directory and its tokenizer; run it in full precision.
  const tern::hf::llama_config config = tern::hf::read_llama_config(dir);
  const tern::hf::any_tokenizer tok = tern::hf::load_tokenizer(dir);
  tern::transformer<float> fp = tern::hf::load_llama<float>(dir);
  const std::vector<tern::token> ids = tok.encode("to be or not");
  const tern::matrix<float> logits = fp.forward(ids, tern::index(ids.size()));
  std::cout << ids.size() << " tokens -> logits " << logits.rows() << " x " << logits.cols() << "\n";

  // The paper's student starts from the same weights (its extra norms at gain 1).
  tern::transformer<float, tern::extra_norm_policy> student(fp.config(), 1);
  student.copy_parameters_from(fp);
  // ... fine-tune (see examples/finetune.cpp), then write it in transformers' BitNet layout:
  student.set_lambda(1.0);
  tern::hf::export_bitnet(dir + "-bitnet", student, config);
  // and the full-precision model back in the Llama layout (BF16 here):
  tern::hf::llama_export_options opt;
  opt.dtype = tern::safetensors_dtype::BF16;
  tern::hf::export_llama(dir + "-bf16", fp, config, opt);

  const auto bitnet = tern::hf::safetensors_file::open(dir + "-bitnet/model.safetensors");
  const auto& q = bitnet.at("model.layers.0.self_attn.q_proj.weight");
  std::cout << "BitNet q_proj: " << tern::dtype_name(q.dtype) << " " << q.shape_string() << ", "
            << bitnet.tensors().size() << " tensors\n";
  for (const auto& d : {dir, dir + "-bitnet", dir + "-bf16"}) std::filesystem::remove_all(d);
  return q.shape[0] == 8 ? 0 : 1;  // 32 rows of q packed four to a byte
}
