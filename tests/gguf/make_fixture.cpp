// Writes small models for the tern_convert / tern_generate command-line tests:
// DIR/tq2.tern (ternary, llama-compatible), DIR/f32.gguf (full precision), DIR/extra.gguf
// (tern-llama: per-projection norms), DIR/narrow.tern (rows of 128 weights: not TQ-able).
#include <iostream>
#include <string>

#include "gguf_test_models.hpp"
#include "tern/io/gguf_model.hpp"
#include "tern/io/model_file.hpp"

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
  return 0;
}
