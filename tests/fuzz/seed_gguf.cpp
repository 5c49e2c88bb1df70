// Seeds for fuzz_gguf: small llama exports (TQ2_0 per tensor, TQ1_0 per row, 256-groups, F32),
// a tern-llama export and an F16 fallback, written into the directory given.
#include <iostream>
#include <string>

#include "gguf/gguf_test_models.hpp"
#include "tern/io/gguf_model.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: seed_gguf DIR\n";
    return 2;
  }
  using namespace tern;
  const std::string d = std::string(argv[1]) + "/";
  const transformer_config c = gguf_test::config(256, 256);
  save_gguf(d + "tq2.gguf", gguf_test::frozen<qat_policy>(c));
  save_gguf(d + "tq1_rows.gguf", gguf_test::frozen<gguf_test::per_row_policy>(c, {.ternary = infer::weight_format::tq1}));
  save_gguf(d + "groups.gguf", gguf_test::frozen<gguf_test::per_group_policy>(gguf_test::config(256, 512)));
  save_gguf(d + "f32.gguf", gguf_test::frozen<fp_policy>(c));
  save_gguf(d + "tern_llama.gguf", gguf_test::frozen<extra_norm_policy>(c));
  gguf_export_options o;
  o.fallback = gguf_tensor_type::f16;
  save_gguf(d + "f16.gguf", gguf_test::frozen<qat_policy>(gguf_test::config(128, 128)), o);
  return 0;
}
