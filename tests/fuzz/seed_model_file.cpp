// Seed writer for fuzz_model_file: valid model files of every format (model_file_fixture.hpp),
// each behind the control bytes that load it, written to the given directory.
//   usage: seed_model_file <output directory>
// Every seed is loaded back before it is written, so the fuzzer starts from files that pass.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz/model_file_fixture.hpp"
#include "tern/io/model_file.hpp"

int main(int argc, char** argv) {
  if (argc == 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    std::cout << "usage: seed_model_file <output directory>\n";
    return 0;
  }
  if (argc != 2 || argv[1][0] == '-') {
    std::cerr << "seed_model_file: expected one argument, the output directory (see --help)\n";
    return 2;
  }
  try {
    const std::filesystem::path dir = argv[1];
    std::filesystem::create_directories(dir);
    int n = 0;
    for (const auto& m : tern_fuzz::seed_models()) {
      const std::string tmp = (dir / "model.tern").string();
      tern::save_model(tmp, m);
      std::ifstream in(tmp, std::ios::binary);
      const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      in.close();
      std::filesystem::remove(tmp);
      (void)tern::load_model_from_bytes(bytes.data(), bytes.size(), "seed");
      for (std::uint8_t control : {std::uint8_t(0), tern_fuzz::verify_checksums, tern_fuzz::fix_header_checksum}) {
        std::ofstream out(dir / ("seed_" + std::to_string(n++)), std::ios::binary);
        out.put(char(control));
        out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
        if (!out) throw std::runtime_error("cannot write a seed");
      }
    }
    std::cout << "seed_model_file: " << n << " seeds in " << dir << "\n";
  } catch (const std::exception& e) {
    std::cerr << "seed_model_file: " << e.what() << "\n";
    return 1;
  }
}
