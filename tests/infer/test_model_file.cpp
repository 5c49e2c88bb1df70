// The model file: bit-identical round trips (mmap and read), and every kind of bad file refused
// with a model_file_error naming the file and the field: every truncation length, every single
// byte of the header and the tensor table changed, corrupt data, and files that lie
// consistently (checksums recomputed over wrong values).
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "tern/infer/freeze.hpp"
#include "tern/infer/session.hpp"
#include "tern/io/checksum.hpp"
#include "tern/io/model_file.hpp"
#include "tern/nn/projection_policy.hpp"
#include "tern/nn/transformer.hpp"

namespace tern {
namespace ti = tern::infer;
namespace tk = tern::kernels;
namespace fs = std::filesystem;

namespace {

transformer_config tiny() {
  transformer_config c;
  c.vocab = 40;
  c.dim = 32;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.ffn_hidden = 48;
  c.max_seq = 16;
  c.init_std = 0.3;
  return c;
}

template <class P>
ti::inference_model frozen(const ti::freeze_options& o = {}, std::uint64_t seed = 1) {
  transformer<float, P> m(tiny(), seed);
  std::mt19937 rng(static_cast<unsigned>(seed));
  std::uniform_real_distribution<float> g(0.5f, 1.5f);
  m.for_each_parameter([&](std::string_view name, parameter<float>& p) {
    if (name.ends_with("gain"))
      for (index i = 0; i < p.value.size(); ++i) p.value.data()[i] = g(rng);
  });
  return ti::freeze(m, o);
}

fs::path temp_dir() {
  const fs::path d = fs::temp_directory_path() / ("tern_model_file_test_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

std::vector<std::uint8_t> slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<std::uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

matrix<float> logits(const ti::inference_model& m) {
  tk::sequential_executor ex;
  ti::session s(m);
  const std::vector<token> t = {1, 7, 3, 39, 0, 12};
  return s.forward(t, true, ex);
}

std::vector<std::uint8_t> file_of(const ti::inference_model& m, const std::string& name) {
  const fs::path p = temp_dir() / name;
  save_model(p.string(), m);
  return slurp(p);
}

// Field access for building lying files.
template <class V>
V get(const std::vector<std::uint8_t>& f, std::size_t at) {
  V v;
  std::memcpy(&v, f.data() + at, sizeof(V));
  return v;
}
template <class V>
void put(std::vector<std::uint8_t>& f, std::size_t at, V v) {
  std::memcpy(f.data() + at, &v, sizeof(V));
}
/// Recomputes the header checksum (a consistent lie: only the loader's own checks can catch it).
void reseal(std::vector<std::uint8_t>& f) {
  const std::uint64_t count = get<std::uint64_t>(f, 24);
  checksum_state cs;
  cs.update(f.data(), 248);
  cs.update(f.data() + 256, std::size_t(count) * 128);
  put<std::uint64_t>(f, 248, cs.digest());
}
std::size_t entry_of(const std::vector<std::uint8_t>& f, const std::string& name) {
  const std::uint64_t count = get<std::uint64_t>(f, 24);
  for (std::size_t i = 0; i < count; ++i)
    if (std::string(reinterpret_cast<const char*>(f.data() + 256 + 128 * i)) == name) return 256 + 128 * i;
  FAIL("no tensor " << name);
  return 0;
}
/// Recomputes a tensor's checksum after its bytes were changed.
void reseal_tensor(std::vector<std::uint8_t>& f, std::size_t entry) {
  const auto off = get<std::uint64_t>(f, entry + 96), bytes = get<std::uint64_t>(f, entry + 104);
  put<std::uint64_t>(f, entry + 112, checksum(f.data() + off, bytes));
  reseal(f);
}

std::string load_error(const std::vector<std::uint8_t>& f, const model_load_options& o = {}) {
  try {
    (void)load_model_from_bytes(f.data(), f.size(), "test.tern", o);
  } catch (const model_file_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("model file round trip: bit-identical bytes and logits, mapped or read", "[infer][model_file]") {
  using grouped = model_policy<projection<absmean_ternary<per_group<16>>, absmax_int8<>, plain_rms_norm>,
                               projection<absmean_ternary<per_channel>, absmax_int8<>, learned_rms_norm>>;
  const std::vector<std::pair<std::string, ti::inference_model>> models = {
      {"extra_norm_tq2_f32", frozen<extra_norm_policy>()},
      {"qat_tq1_i8", frozen<qat_policy>({.ternary = ti::weight_format::tq1, .head = ti::weight_format::i8})},
      {"grouped_tq2_bf16", frozen<grouped>({.head = ti::weight_format::bf16})},
      {"subln_ternary_head", frozen<with_head<subln_policy, ternary_projection>>({.ternary = ti::weight_format::tq1})},
      {"fp", frozen<fp_policy>()},
      {"fp_bf16", frozen<fp_policy>({.head = ti::weight_format::i8, .dense = ti::weight_format::bf16})},
  };
  for (const auto& [name, m] : models) {
    INFO(name);
    const fs::path p = temp_dir() / (name + ".tern");
    save_model(p.string(), m);
    CHECK_FALSE(fs::exists(p.string() + ".tmp"));
    const std::vector<std::uint8_t> bytes = slurp(p);
    REQUIRE(bytes.size() % 64 == 0);
    for (bool map : {true, false}) {
      const ti::inference_model back = load_model(p.string(), {.mmap = map});
      transformer_config want = m.config();
      want.init_std = transformer_config{}.init_std;  // a training setting: not stored
      CHECK(back.config() == want);
      CHECK(back.desc() == m.desc());
      CHECK(back.policy() == m.policy());
      CHECK(back.embedding().borrowed());
      CHECK(logits(back) == logits(m));
      const fs::path again = temp_dir() / (name + ".again.tern");
      save_model(again.string(), back);
      CHECK(slurp(again) == bytes);
    }
  }
}

TEST_CASE("model file: every truncation length is refused", "[infer][model_file]") {
  const std::vector<std::uint8_t> f = file_of(frozen<extra_norm_policy>(), "trunc.tern");
  for (std::size_t n = 0; n < f.size(); ++n) {
    const std::string e = load_error(std::vector<std::uint8_t>(f.begin(), f.begin() + std::ptrdiff_t(n)));
    INFO("length " << n << " of " << f.size());
    REQUIRE(e.find("test.tern") != std::string::npos);
  }
  // Trailing bytes too.
  std::vector<std::uint8_t> longer = f;
  longer.push_back(0);
  CHECK(load_error(longer).find("file_bytes") != std::string::npos);
}

TEST_CASE("model file: every byte of the header and the table changed is refused", "[infer][model_file]") {
  const std::vector<std::uint8_t> f = file_of(frozen<qat_policy>({.head = ti::weight_format::i8}), "corrupt.tern");
  const std::size_t data = get<std::uint64_t>(f, 40);
  for (std::size_t i = 0; i < data; ++i) {
    for (std::uint8_t flip : {std::uint8_t(0x01), std::uint8_t(0x80)}) {
      std::vector<std::uint8_t> g = f;
      g[i] ^= flip;
      INFO("byte " << i << " ^ " << int(flip));
      const bool padding = i >= 256 + get<std::uint64_t>(f, 24) * 128;  // between the table and the data
      if (padding) continue;
      REQUIRE_FALSE(load_error(g).empty());
    }
  }
  // Data: caught by the tensor checksums.
  std::mt19937 rng(3);
  for (int t = 0; t < 200; ++t) {
    std::vector<std::uint8_t> g = f;
    const std::size_t at = data + rng() % (f.size() - data);
    g[at] ^= 0x10;
    const bool in_padding = [&] {  // bytes between tensors carry nothing
      const std::uint64_t count = get<std::uint64_t>(f, 24);
      for (std::size_t k = 0; k < count; ++k) {
        const auto off = get<std::uint64_t>(f, 256 + 128 * k + 96), bytes = get<std::uint64_t>(f, 256 + 128 * k + 104);
        if (at >= off && at < off + bytes) return false;
      }
      return true;
    }();
    if (in_padding) continue;
    INFO("data byte " << at);
    CHECK(load_error(g).find("XXH3-64 mismatch") != std::string::npos);
  }
}

TEST_CASE("model file: consistent lies are caught by the field checks", "[infer][model_file]") {
  const std::vector<std::uint8_t> f = file_of(frozen<extra_norm_policy>({.head = ti::weight_format::i8}), "lies.tern");
  const auto lie = [&](auto&& edit) {
    std::vector<std::uint8_t> g = f;
    edit(g);
    return load_error(g);
  };
  CHECK(lie([](auto& g) { put<std::uint32_t>(g, 8, 2); reseal(g); }).find("version 2") != std::string::npos);
  CHECK(lie([](auto& g) { put<std::int64_t>(g, 56, 33); reseal(g); }).find("config") != std::string::npos);  // dim
  CHECK(lie([](auto& g) { put<std::int64_t>(g, 48, std::int64_t(1) << 40); reseal(g); }).find("config.vocab") != std::string::npos);
  CHECK(lie([](auto& g) { put<std::int64_t>(g, 96, 0); reseal(g); }).find("config.max_seq") != std::string::npos);
  CHECK(lie([](auto& g) { put<double>(g, 112, -1.0); reseal(g); }).find("config.norm_eps") != std::string::npos);
  // positive as a double but 0 as the float the norms compute in (a fuzzer's finding)
  CHECK(lie([](auto& g) { put<double>(g, 112, 1e-50); reseal(g); }).find("below the smallest normal float") != std::string::npos);
  CHECK(lie([](auto& g) { put<std::uint32_t>(g, 120, 7); reseal(g); }).find("block_norm") != std::string::npos);
  CHECK(lie([](auto& g) { put<std::uint32_t>(g, 128, 9); reseal(g); }).find("attn_in.format") != std::string::npos);
  CHECK(lie([](auto& g) { put<std::uint32_t>(g, 128 + 4 * 16 + 8, 0); reseal(g); }).find("head.granularity") != std::string::npos);
  CHECK(lie([](auto& g) { g[208] = 0x07; reseal(g); }).find("policy") != std::string::npos);
  CHECK(lie([](auto& g) { put<std::uint64_t>(g, 24, std::uint64_t(1) << 60); reseal(g); }).find("tensor_count") != std::string::npos);
  // A tensor that moves onto the previous one, one misaligned, one past the end.
  const std::size_t q = entry_of(f, "layers.0.attn.q.weight");
  CHECK(lie([&](auto& g) { put<std::uint64_t>(g, q + 96, get<std::uint64_t>(g, q + 96) - 64); reseal(g); }).find("overlaps") !=
        std::string::npos);
  CHECK(lie([&](auto& g) { put<std::uint64_t>(g, q + 96, get<std::uint64_t>(g, q + 96) + 8); reseal(g); }).find("multiple of 64") !=
        std::string::npos);
  CHECK(lie([&](auto& g) { put<std::uint64_t>(g, q + 96, std::uint64_t(1) << 62); reseal(g); }).find("past the end") !=
        std::string::npos);
  CHECK(lie([&](auto& g) { put<std::uint64_t>(g, q + 104, 64); reseal(g); }).find("bytes") != std::string::npos);
  CHECK(lie([&](auto& g) { put<std::uint64_t>(g, q + 72, 31); reseal(g); }).find("shape") != std::string::npos);
  CHECK(lie([&](auto& g) { put<std::uint32_t>(g, q + 64, 4); reseal(g); }).find("dtype") != std::string::npos);
  CHECK(lie([&](auto& g) { g[q + 1] = 'X'; reseal(g); }).find("name") != std::string::npos);
  // Values: a 2-bit code 3, a NaN scale, an infinite gain, an i8 code -128, NaN embedding.
  CHECK(lie([&](auto& g) {
          g[get<std::uint64_t>(g, q + 96) + 5] |= 0x03 << 2 | 0x0c;
          reseal_tensor(g, q);
        }).find("not ternary") != std::string::npos);
  const std::size_t qs = entry_of(f, "layers.0.attn.q.scales");
  CHECK(lie([&](auto& g) {
          put<float>(g, get<std::uint64_t>(g, qs + 96), std::nanf(""));
          reseal_tensor(g, qs);
        }).find("layers.0.attn.q.scales") != std::string::npos);
  const std::size_t gain = entry_of(f, "layers.1.mlp.down.norm.gain");
  CHECK(lie([&](auto& g) {
          put<float>(g, get<std::uint64_t>(g, gain + 96) + 8, INFINITY);
          reseal_tensor(g, gain);
        }).find("layers.1.mlp.down.norm.gain") != std::string::npos);
  const std::size_t head = entry_of(f, "head.weight");
  CHECK(lie([&](auto& g) {
          g[get<std::uint64_t>(g, head + 96) + 3] = 0x80;
          reseal_tensor(g, head);
        }).find("head.weight") != std::string::npos);
  const std::size_t embed = entry_of(f, "embed.weight");
  CHECK(lie([&](auto& g) {
          put<float>(g, get<std::uint64_t>(g, embed + 96) + 4, std::nanf(""));
          reseal_tensor(g, embed);
        }).find("embed.weight") != std::string::npos);
  // Without checksum verification the value checks still hold.
  std::vector<std::uint8_t> g = f;
  g[get<std::uint64_t>(g, q + 96) + 9] |= 0x0f;
  CHECK(load_error(g, {.verify_checksums = false}).find("not ternary") != std::string::npos);
}

TEST_CASE("model file: paths that are not regular files, and unwritable paths, give clear errors", "[infer][model_file]") {
  const fs::path d = temp_dir();
  CHECK_THROWS_WITH(load_model((d / "missing.tern").string()), Catch::Contains("missing.tern") && Catch::Contains("cannot open"));
  CHECK_THROWS_WITH(load_model(d.string()), Catch::Contains("not a regular file"));
  const fs::path fifo = d / "fifo.tern";
  fs::remove(fifo);
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THROWS_WITH(load_model(fifo.string()), Catch::Contains("not a regular file"));  // at once, no blocking open
  CHECK_THROWS_AS(load_model("/dev/null"), model_file_error);
  { std::ofstream(d / "empty.tern"); }
  CHECK_THROWS_WITH(load_model((d / "empty.tern").string()), Catch::Contains("empty"));
  const ti::inference_model m = frozen<qat_policy>();
  CHECK_THROWS_AS(save_model((d / "no_such_dir" / "x.tern").string(), m), model_file_error);
  fs::remove_all(d);
}

}  // namespace tern
