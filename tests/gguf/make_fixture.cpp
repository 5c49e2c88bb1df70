// Writes small models for the tern_convert / tern_generate command-line tests:
// DIR/tq2.tern (ternary, llama-compatible), DIR/f32.gguf (full precision), DIR/extra.gguf
// (tern-llama: per-projection norms), DIR/narrow.tern (rows of 128 weights: not TQ-able), and
// with tern::hf DIR/hf/ (a Llama checkpoint: config.json, model.safetensors and a byte-level BPE
// tokenizer.json of 256 + 20 merges + 1 special token) and, with sentencepiece's trainer,
// DIR/hf_spm/ (a SentencePiece tokenizer.model).
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "gguf_test_models.hpp"
#include "tern/io/gguf_model.hpp"
#include "tern/io/model_file.hpp"
#ifdef TERN_FIXTURE_HF
#include "tern/hf.hpp"
#endif
#ifdef TERN_FIXTURE_SPM
#include <sentencepiece_trainer.h>
#endif

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_fixture DIR\n";
    return 2;
  }
  const std::string d = argv[1];
  using namespace tern;
  save_model(d + "/tq2.tern", gguf_test::frozen<qat_policy>());
  save_gguf(d + "/f32.gguf", gguf_test::frozen<fp_policy>());
  save_gguf(d + "/extra.gguf", gguf_test::frozen<extra_norm_policy>());
  save_model(d + "/narrow.tern", gguf_test::frozen<qat_policy>(gguf_test::config(128, 384)));
#ifdef TERN_FIXTURE_HF
  transformer_config cfg = gguf_test::config();
  cfg.vocab = 256 + 20 + 1;
  const auto tokenizer = hf::train_byte_level_bpe("to be or not to be, that is the question\n", 20, {"<|endoftext|>"});
  transformer<float> random(cfg, 7);
  hf::export_llama(d + "/hf", random, hf::llama_config::from_transformer_config(cfg));
  std::ofstream(std::filesystem::path(d) / "hf" / "tokenizer.json") << tokenizer.dump();
#endif
#ifdef TERN_FIXTURE_SPM
  {  // DIR/hf_spm/: the same with a SentencePiece tokenizer.model of 340 pieces (BPE, byte fallback)
    std::ofstream(d + "/spm_corpus.txt") << [] {
      std::string t;
      for (int i = 0; i < 50; ++i) t += "to be or not to be, that is the question; whether tis nobler in the mind to suffer\n";
      return t;
    }();
    const auto st = sentencepiece::SentencePieceTrainer::Train("--input=" + d + "/spm_corpus.txt --model_prefix=" + d +
                                                               "/spm --vocab_size=340 --model_type=bpe --byte_fallback=true "
                                                               "--character_coverage=1.0 --minloglevel=2");
    if (!st.ok()) {
      std::cerr << "sentencepiece training failed: " << st.ToString() << "\n";
      return 1;
    }
    transformer_config sc = gguf_test::config();
    sc.vocab = 340;
    transformer<float> m(sc, 9);
    hf::export_llama(d + "/hf_spm", m, hf::llama_config::from_transformer_config(sc));
    std::filesystem::copy_file(d + "/spm.model", d + "/hf_spm/tokenizer.model");
  }
#endif
  return 0;
}
