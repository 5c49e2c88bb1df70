// Writes the seeds of the fuzz targets: <dir>/safetensors.seed (a small valid file with F32,
// BF16 and U8 tensors and metadata) and <dir>/tokenizer_json.seed (a trained byte-level BPE
// tokenizer.json with 30 merges and a special token).
#include <filesystem>
#include <fstream>
#include <iostream>

#include "tern/hf/bpe_trainer.hpp"
#include "tern/io/safetensors.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_fuzz_seeds <dir>\n";
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  tern::matrix<float> m(2, 3);
  m << 1, -2, 3.5f, 0.25f, -0.125f, 8;
  const auto f32 = tern::encode_floats(m, tern::safetensors_dtype::F32);
  const auto bf16 = tern::encode_floats(m, tern::safetensors_dtype::BF16);
  const std::vector<std::uint8_t> u8 = {1, 2, 3, 4};
  tern::write_safetensors((dir / "safetensors.seed").string(),
                          {{"a.weight", tern::safetensors_dtype::F32, {2, 3}, f32},
                           {"b", tern::safetensors_dtype::BF16, {6}, bf16},
                           {"c", tern::safetensors_dtype::U8, {2, 2}, u8}},
                          {{"format", "pt"}});
  const auto tok = tern::hf::train_byte_level_bpe("the cat sat on the mat; the dog sat on the log.\n", 30, {"<|endoftext|>"});
  std::ofstream(dir / "tokenizer_json.seed") << tok.dump();
  std::cout << "seeds written to " << dir << "\n";
  return 0;
}
