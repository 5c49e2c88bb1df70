// Runs a libFuzzer target (linked in: tests/fuzz/fuzz_*.cpp) without libFuzzer, on a seed and
// deterministic mutations of it: every truncation, every single-byte change to a few values at
// every position of the first 512 bytes, and 2000 random multi-byte mutations. It checks that the
// target builds and survives them (in CI also under ASan + UBSan); libFuzzer explores further.
// usage: fuzz_replay_<target> <seed file>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <vector>

#include "tern/data/rng.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " <seed file>\n";
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  if (!in) {
    std::cerr << argv[0] << ": cannot open seed file '" << argv[1] << "'\n";
    return 2;
  }
  const std::vector<std::uint8_t> seed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t runs = 0;
  auto run = [&](const std::vector<std::uint8_t>& v) {
    LLVMFuzzerTestOneInput(v.data(), v.size());
    ++runs;
  };
  run(seed);
  for (std::size_t n = 0; n < seed.size(); ++n) run(std::vector<std::uint8_t>(seed.begin(), seed.begin() + std::ptrdiff_t(n)));
  for (std::size_t p = 0; p < seed.size() && p < 512; ++p)
    for (std::uint8_t v : {std::uint8_t(0), std::uint8_t('"'), std::uint8_t('}'), std::uint8_t('9'), std::uint8_t(0xff)}) {
      auto m = seed;
      m[p] = v;
      run(m);
    }
  tern::rng r(1);
  for (int i = 0; i < 2000; ++i) {
    auto m = seed;
    const int edits = 1 + int(r.below(4));
    for (int e = 0; e < edits && !m.empty(); ++e) m[r.below(m.size())] = std::uint8_t(r.below(256));
    run(m);
  }
  std::cout << runs << " inputs ran without a crash\n";
  return 0;
}
