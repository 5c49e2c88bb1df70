// Seed writer for fuzz_checkpoint: valid checkpoints of the fuzzer's fixed model, each with
// the control bytes that load it (checkpoint_fixture.hpp), written to the given directory.
//   usage: seed_checkpoint <output directory>
// Every seed is loaded back before it is written, so the fuzzer starts from files that pass.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "checkpoint_fixture.hpp"
#include "tern/io/checkpoint.hpp"

namespace {

std::vector<char> saved_bytes(const std::string& path, tern_fuzz::model& m, const tern::adamw<float>* opt,
                              const tern::train_state* st) {
  tern::save_checkpoint(path, m, tern_fuzz::checkpoint_tag, opt, st);
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::filesystem::remove(path);
  const std::string s = ss.str();
  return {s.begin(), s.end()};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    std::cout << "usage: seed_checkpoint <output directory>\n";
    return 0;
  }
  if (argc != 2 || argv[1][0] == '-') {
    std::cerr << "seed_checkpoint: expected one argument, the output directory (see --help)\n";
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  if (!std::filesystem::is_directory(dir)) {
    std::cerr << "seed_checkpoint: '" << dir.string() << "' is not a directory\n";
    return 2;
  }
  try {
    tern_fuzz::model m = tern_fuzz::make_model(1);
    tern::adamw<float> fresh, trained;
    const tern::matrix<float> x = tern::matrix<float>::Ones(3, 4);
    for (int s = 0; s < 2; ++s) {
      m.for_each_parameter([](std::string_view, tern::parameter<float>& p) { p.grad.setZero(); });
      m.backward(m.forward(x));
      trained.step(m);
    }
    tern::train_state st;
    st.step = 2;
    st.tokens = 6;
    st.rng_state = tern::rng(9).state();
    const std::string tmp = (dir / "tmp.ckpt").string();
    struct seed {
      const char* name;
      std::vector<char> bytes;
      std::uint8_t control;
    };
    const auto weights = saved_bytes(tmp, m, nullptr, nullptr);
    const auto all = saved_bytes(tmp, m, &trained, &st);
    const auto step0 = saved_bytes(tmp, m, &fresh, &st);
    const std::vector<seed> seeds = {
        {"weights", weights, 0},
        {"weights_fixsum", weights, tern_fuzz::fix_checksum},
        {"all", all, tern_fuzz::want_optimizer | tern_fuzz::want_state},
        {"all_fixsum", all, tern_fuzz::want_optimizer | tern_fuzz::want_state | tern_fuzz::fix_checksum},
        {"all_skip", all, 0},
        {"step0", step0, tern_fuzz::want_optimizer | tern_fuzz::want_state | tern_fuzz::fix_checksum},
    };
    for (const auto& s : seeds) {
      tern_fuzz::model into = tern_fuzz::make_model(2);
      tern::adamw<float> opt;
      tern::train_state ts;
      tern::load_checkpoint_bytes(std::as_bytes(std::span(s.bytes)), s.name, into, tern_fuzz::checkpoint_tag,
                                  (s.control & tern_fuzz::want_optimizer) ? &opt : nullptr,
                                  (s.control & tern_fuzz::want_state) ? &ts : nullptr);
      std::ofstream out(dir / s.name, std::ios::binary | std::ios::trunc);
      out.put(static_cast<char>(s.control));
      out.write(s.bytes.data(), static_cast<std::streamsize>(s.bytes.size()));
      out.close();
      if (!out) throw std::runtime_error(std::string("cannot write seed ") + s.name);
    }
    std::cout << "seed_checkpoint: " << seeds.size() << " seeds in " << dir.string() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "seed_checkpoint: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
