// A downstream use of tern::hf: write a safetensors file with the core, read it back.
#include <tern/hf.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>

int main() {
  tern::matrix<float> m(2, 2);
  m << 1, 2, 3, 4;
  const auto bytes = tern::encode_floats(m, tern::safetensors_dtype::BF16);
  const auto path = (std::filesystem::temp_directory_path() / "tern_consumer_hf.safetensors").string();
  tern::write_safetensors(path, {{"m", tern::safetensors_dtype::BF16, {2, 2}, bytes}});
  const auto f = tern::hf::safetensors_file::open(path);
  const bool ok = f.to_matrix<float>("m") == m;
  std::remove(path.c_str());
  std::cout << "tern::hf consumer: " << (ok ? "ok" : "mismatch") << "\n";
  return ok ? 0 : 1;
}
