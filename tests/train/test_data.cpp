// Byte corpus (splits, windows, error messages), the seeded rng, and the synthetic Markov
// source's exact entropy against empirical estimates from generated text.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include "tern/data/byte_corpus.hpp"
#include "tern/data/markov_source.hpp"
#include "tern/data/rng.hpp"

namespace {
std::string write_temp(const std::string& name, const std::string& content) {
  const std::string path = "tern_test_" + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}
}  // namespace

TEST_CASE("rng: same seed same stream, below() stays in range and covers it") {
  tern::rng a(42), b(42), c(43);
  for (int i = 0; i < 100; ++i) CHECK(a.next() == b.next());
  CHECK(a.next() != c.next());
  std::vector<int> hist(7, 0);
  for (int i = 0; i < 7000; ++i) {
    const auto x = a.below(7);
    REQUIRE(x < 7);
    ++hist[x];
  }
  for (int h : hist) CHECK(h > 800);  // expected 1000 each
  const auto s = a.state();
  const auto x1 = a.next();
  b.set_state(s);
  CHECK(b.next() == x1);
}

TEST_CASE("byte_corpus: split sizes, windows and targets shifted by one") {
  std::vector<std::uint8_t> bytes(1000);
  for (int i = 0; i < 1000; ++i) bytes[std::size_t(i)] = std::uint8_t(i % 251);
  const tern::byte_corpus c(bytes, "synthetic", 0.1, 17);
  CHECK(c.size() == 1000);
  CHECK(c.train_size() == 900);
  CHECK(c.validation_size() == 100);
  tern::rng r(1);
  const auto b = c.sample_train(8, 16, r);
  REQUIRE(b.inputs.size() == 128);
  for (int k = 0; k < 8; ++k) {
    const int start = b.inputs[std::size_t(k * 16)];
    for (int s = 0; s < 16; ++s) {
      CHECK(b.targets[std::size_t(k * 16 + s)] == (start + s + 1) % 251);  // consecutive bytes
      CHECK(b.inputs[std::size_t(k * 16 + s)] == (start + s) % 251);
    }
  }
  const auto starts = c.validation_starts(16, 0);
  CHECK(starts.size() == 6);  // (100 - 1) / 16 non-overlapping windows
  const auto v = c.validation_batch(starts, 16);
  CHECK(v.inputs[0] == 900 % 251);  // the validation split is the tail
}

TEST_CASE("byte_corpus: missing, empty and too-short files give messages with path and sizes") {
  try {
    tern::byte_corpus::from_file("/nonexistent/dir/corpus.txt");
    FAIL("expected an error");
  } catch (const std::runtime_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("/nonexistent/dir/corpus.txt") && Catch::Contains("cannot open"));
  }
  const auto empty = write_temp("empty.txt", "");
  try {
    tern::byte_corpus::from_file(empty);
    FAIL("expected an error");
  } catch (const std::runtime_error& e) {
    CHECK_THAT(e.what(), Catch::Contains(empty) && Catch::Contains("empty"));
  }
  const auto small = write_temp("small.txt", std::string(50, 'x'));
  try {
    tern::byte_corpus::from_file(small, 0.1, 65);
    FAIL("expected an error");
  } catch (const std::runtime_error& e) {
    CHECK_THAT(e.what(), Catch::Contains(small) && Catch::Contains("too short") && Catch::Contains("50 bytes") &&
                             Catch::Contains("65"));
  }
  CHECK_NOTHROW(tern::byte_corpus::from_file(small, 0.5, 20));
  std::remove(empty.c_str());
  std::remove(small.c_str());
}

TEST_CASE("byte_corpus: a directory, a FIFO or a device is refused at once, naming the kind") {
  const std::string dir = "tern_test_corpus_dir";
  std::filesystem::create_directory(dir);
  CHECK_THROWS_WITH(tern::byte_corpus::from_file(dir), Catch::Contains(dir) && Catch::Contains("is a directory"));
  const std::string fifo = "tern_test_corpus_fifo";
  ::unlink(fifo.c_str());
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // Nobody writes to it: a blocking open or read would hang (ctest's timeout would fail it).
  CHECK_THROWS_WITH(tern::byte_corpus::from_file(fifo), Catch::Contains(fifo) && Catch::Contains("FIFO"));
  // /dev/zero never ends: reading it "whole" would exhaust memory.
  CHECK_THROWS_WITH(tern::byte_corpus::from_file("/dev/zero"), Catch::Contains("character device"));
  std::filesystem::remove(dir);
  ::unlink(fifo.c_str());
}

TEST_CASE("byte_corpus: batch, window length and starts at their bounds and past them") {
  std::vector<std::uint8_t> bytes(1000);
  for (int i = 0; i < 1000; ++i) bytes[std::size_t(i)] = std::uint8_t(i % 251);
  const tern::byte_corpus c(bytes, "synthetic", 0.1, 2);  // 900 train, 100 validation bytes
  tern::rng r(3);
  constexpr tern::index big = std::numeric_limits<tern::index>::max();
  // Window lengths: the largest that fits works, one more (and the extremes) are refused.
  CHECK(c.sample_train(1, 899, r).inputs.size() == 899);
  for (const tern::index seq : {tern::index(900), big, big - 1, tern::index(0), tern::index(-1),
                                std::numeric_limits<tern::index>::min()})
    CHECK_THROWS_AS(c.sample_train(1, seq, r), std::invalid_argument);
  CHECK_THROWS_WITH(c.sample_train(1, big, r), Catch::Contains("does not fit"));
  // Batches: batch x seq is bounded before anything is multiplied or allocated.
  for (const tern::index batch : {tern::index(0), tern::index(-1), big, tern::index(1) << 32,
                                  tern::byte_corpus::max_batch_tokens / 16 + 1})
    CHECK_THROWS_AS(c.sample_train(batch, 16, r), std::invalid_argument);
  CHECK_THROWS_WITH(c.sample_train(tern::index(1) << 40, 64, r), Catch::Contains("max_batch_tokens"));
  CHECK(c.sample_train(1000, 16, r).inputs.size() == 16000);
  // Validation starts: the last valid one works, one past it and the extremes are refused.
  const tern::index seq = 16, last = c.validation_size() - seq - 1;
  const auto v = c.validation_batch({last}, seq);
  CHECK(v.targets.back() == bytes[999]);
  for (const tern::index start : {last + 1, big, big - seq, tern::index(-1), std::numeric_limits<tern::index>::min()})
    CHECK_THROWS_WITH(c.validation_batch({start}, seq), Catch::Contains("out of range"));
  CHECK_THROWS_AS(c.validation_batch({}, seq), std::invalid_argument);
  CHECK_THROWS_AS(c.validation_starts(big, 4), std::invalid_argument);
  CHECK_THROWS_AS(c.validation_starts(0, 4), std::invalid_argument);
  CHECK(c.validation_starts(1, big).size() == 99);
}

TEST_CASE("byte_corpus: validation starts equal floor(i * available / count) * seq, computed in 128 bits") {
  __extension__ typedef unsigned __int128 u128;
  const std::vector<std::uint8_t> bytes(200000, 7);
  const tern::byte_corpus c(bytes, "flat", 0.5, 2);
  for (const tern::index seq : {tern::index(1), tern::index(3), tern::index(64)})
    for (const tern::index max_windows : {tern::index(1), tern::index(7), tern::index(99991), tern::index(0)}) {
      const auto starts = c.validation_starts(seq, max_windows);
      const tern::index available = (c.validation_size() - 1) / seq;
      const tern::index count = max_windows > 0 && max_windows < available ? max_windows : available;
      REQUIRE(tern::index(starts.size()) == count);
      bool same = true;
      for (tern::index i = 0; i < count; ++i)
        same = same && u128(starts[std::size_t(i)]) == u128(i) * u128(available) / u128(count) * u128(seq);
      INFO("seq " << seq << " max_windows " << max_windows);
      CHECK(same);
      CHECK(starts.back() + seq + 1 <= c.validation_size());
    }
}

TEST_CASE("markov_source: transition rows are distributions, pi is stationary") {
  tern::markov_source_config cfg;
  cfg.alphabet = "abcdef";
  cfg.order = 2;
  cfg.branching = 2;
  cfg.floor = 0.1;
  const tern::markov_source m(cfg);
  double total = 0;
  for (std::size_t c = 0; c < m.contexts(); ++c) {
    double row = 0;
    for (int a = 0; a < 6; ++a) row += m.probability(c, a);
    CHECK(row == Approx(1.0).epsilon(1e-12));
    total += m.stationary(c);
  }
  CHECK(total == Approx(1.0).epsilon(1e-12));
  // pi P = pi, checked directly.
  std::vector<double> next(m.contexts(), 0.0);
  for (std::size_t c = 0; c < m.contexts(); ++c)
    for (int a = 0; a < 6; ++a) next[m.next_context(c, a)] += m.stationary(c) * m.probability(c, a);
  for (std::size_t c = 0; c < m.contexts(); ++c) CHECK(next[c] == Approx(m.stationary(c)).margin(1e-12));
}

TEST_CASE("markov_source: exact entropy rate matches empirical estimates from generated text") {
  const tern::markov_source m;  // the demo's default source
  const double h = m.entropy_bits_per_byte();
  CHECK(h > 0.5);
  CHECK(h < std::log2(32.0));
  const auto text = m.generate(400000, 7);
  REQUIRE(text.size() == 400000);
  // (1) Mean code length of the text under the true model (ergodic theorem: -> H).
  double bits = 0;
  std::size_t ctx = std::size_t(m.symbol_index(text[0])) * 32 + std::size_t(m.symbol_index(text[1]));
  for (std::size_t i = 2; i < text.size(); ++i) {
    const int a = m.symbol_index(text[i]);
    if (a < 0) FAIL("generated byte outside the alphabet");
    bits -= std::log2(m.probability(ctx, a));
    ctx = m.next_context(ctx, a);
  }
  CHECK(bits / double(text.size() - 2) == Approx(h).margin(0.01));
}

TEST_CASE("markov_source: exact entropy rate matches the plug-in estimate from counts") {
  // A small source (216 transition cells), so counts from 300k bytes pin every cell down and
  // the empirical conditional entropy of (2 bytes -> next byte) is independent of the table.
  tern::markov_source_config cfg;
  cfg.alphabet = "abcdef";
  cfg.order = 2;
  cfg.branching = 3;
  cfg.floor = 0.2;
  cfg.seed = 9;
  const tern::markov_source m(cfg);
  const double h = m.entropy_bits_per_byte();
  const auto text = m.generate(300000, 1);
  std::map<int, std::map<int, int>> counts;
  for (std::size_t i = 2; i < text.size(); ++i) ++counts[text[i - 2] * 256 + text[i - 1]][text[i]];
  CHECK(counts.size() == 36);
  double plug = 0;
  for (const auto& [c, nexts] : counts) {
    double n = 0;
    for (const auto& [a, k] : nexts) n += k;
    for (const auto& [a, k] : nexts) plug -= k * std::log2(k / n);
  }
  plug /= double(text.size() - 2);
  CHECK(plug == Approx(h).margin(0.01));
}

TEST_CASE("markov_source: same seeds, same text; different text seed, different text") {
  const tern::markov_source m;
  CHECK(m.generate(1000, 3) == m.generate(1000, 3));
  CHECK(m.generate(1000, 3) != m.generate(1000, 4));
  tern::markov_source_config bad;
  bad.alphabet = "aa";
  CHECK_THROWS_AS(tern::markov_source(bad), std::invalid_argument);
}

TEST_CASE("markov_source: a related source shares a fraction of its rows with another table") {
  tern::markov_source_config ca, cb;  // the demo's default (table seed 1) and its relative
  cb.seed = 2;
  const tern::markov_source a(ca), other(cb);
  const auto same_row = [](const tern::markov_source& x, const tern::markov_source& y, std::size_t c) {
    for (int s = 0; s < x.alphabet_size(); ++s)
      if (x.probability(c, s) != y.probability(c, s)) return false;
    return true;
  };
  // shared = 0 is the seed's own table, bit for bit; shared = 1 is the other table.
  tern::markov_source_config c0 = cb, c1 = cb;
  c0.shared = 0.0;
  c1.shared = 1.0;
  c1.shared_seed = 1;
  const tern::markov_source s0(c0), s1(c1);
  for (std::size_t c = 0; c < a.contexts(); ++c) {
    CHECK(same_row(s0, other, c));
    CHECK(same_row(s1, a, c));
  }
  CHECK(s1.entropy_bits_per_byte() == a.entropy_bits_per_byte());
  // shared = 0.5: every row is one of the two tables' rows, about half from each (1024
  // contexts: the binomial sd is 16), and the rows taken from neither table do not exist.
  tern::markov_source_config ch = cb;
  ch.shared = 0.5;
  ch.shared_seed = 1;
  const tern::markov_source half(ch);
  std::size_t from_a = 0, from_other = 0;
  for (std::size_t c = 0; c < a.contexts(); ++c) {
    const bool in_a = same_row(half, a, c), in_other = same_row(half, other, c);
    CHECK((in_a || in_other));
    from_a += in_a;
    from_other += in_other;
  }
  CHECK(from_a + from_other == a.contexts());
  CHECK(from_a > 512 - 64);
  CHECK(from_a < 512 + 64);
  // Its entropy rate is exact for its own table: the true model's code length on its text.
  const auto text = half.generate(200000, 3);
  double bits = 0;
  std::size_t ctx = std::size_t(half.symbol_index(text[0])) * 32 + std::size_t(half.symbol_index(text[1]));
  for (std::size_t i = 2; i < text.size(); ++i) {
    const int s = half.symbol_index(text[i]);
    bits -= std::log2(half.probability(ctx, s));
    ctx = half.next_context(ctx, s);
  }
  CHECK(bits / double(text.size() - 2) == Approx(half.entropy_bits_per_byte()).margin(0.015));
  tern::markov_source_config bad = cb;
  for (double f : {-0.1, 1.5, std::nan("")}) {
    bad.shared = f;
    CHECK_THROWS_WITH(tern::markov_source(bad), Catch::Contains("shared must be in [0, 1]"));
  }
}
