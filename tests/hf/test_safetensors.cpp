// safetensors: the core writer and tern::hf's reader against files written by hand in this
// test (the format's layout, not tern's writer), known F16/BF16 bit patterns, every truncation
// and every single-byte corruption of a small file's header, sharded checkpoints.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tern/hf/safetensors_checkpoint.hpp"
#include "tern/hf/safetensors_file.hpp"
#include "tern/io/safetensors.hpp"

namespace fs = std::filesystem;
using tern::safetensors_dtype;
using tern::hf::safetensors_file;

namespace {

// A file image from a header text and data bytes, the format's layout written out directly.
std::vector<std::uint8_t> image(const std::string& header, const std::vector<std::uint8_t>& data) {
  std::vector<std::uint8_t> out(8 + header.size() + data.size());
  const std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[std::size_t(i)] = std::uint8_t(n >> (8 * i));
  std::copy(header.begin(), header.end(), out.begin() + 8);
  std::copy(data.begin(), data.end(), out.begin() + 8 + std::ptrdiff_t(header.size()));
  return out;
}

std::vector<std::uint8_t> f32_bytes(std::initializer_list<float> v) {
  std::vector<std::uint8_t> out(v.size() * 4);
  std::size_t i = 0;
  for (float x : v) std::memcpy(&out[4 * i++], &x, 4);
  return out;
}

// Parses an image; returns the error message ("" when it parsed).
std::string parse_error(const std::vector<std::uint8_t>& img) {
  try {
    (void)tern::hf::parse_safetensors_header(img, "t.safetensors");
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

const std::string good_header =
    R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"__metadata__":{"format":"pt"}})";

std::vector<std::uint8_t> good_image() { return image(good_header + "  ", f32_bytes({1, 2, 3, 4, 5, 6})); }

struct temp_dir {
  fs::path path;
  explicit temp_dir(const std::string& name) : path(fs::temp_directory_path() / ("tern_test_" + name)) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~temp_dir() { fs::remove_all(path); }
};

void write_file(const fs::path& p, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

}  // namespace

TEST_CASE("safetensors reader: a hand-written file, its tensors, metadata and padding") {
  const auto f = safetensors_file::from_bytes(good_image(), "hand.safetensors");
  REQUIRE(f.tensors().size() == 2);
  CHECK(f.tensors()[0].name == "a");  // in data order
  CHECK(f.metadata().at("format") == "pt");
  const auto a = f.to_matrix<float>("a");
  CHECK(a.rows() == 2);
  CHECK(a(1, 0) == 3.0f);  // row-major
  const auto b = f.to_matrix<double>("b");
  CHECK(b.rows() == 1);
  CHECK(b(0, 1) == 6.0);
  CHECK_THROWS_WITH(f.at("c"), Catch::Contains("hand.safetensors") && Catch::Contains("no tensor 'c'"));
}

TEST_CASE("safetensors reader: F16 and BF16 decode to known values") {
  // F16: 1.0 = 0x3C00, -2.5 = 0xC100, 65504 = 0x7BFF, 2^-24 = 0x0001 (subnormal).
  // BF16: 1.0 = 0x3F80, -2.5 = 0xC020, 3.140625 = 0x4049 (the top half of float32).
  const std::vector<std::uint8_t> data = {0x00, 0x3C, 0x00, 0xC1, 0xFF, 0x7B, 0x01, 0x00,
                                          0x80, 0x3F, 0x20, 0xC0, 0x49, 0x40};
  const std::string header =
      R"({"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"g":{"dtype":"BF16","shape":[3,1],"data_offsets":[8,14]}})";
  const auto f = safetensors_file::from_bytes(image(header, data), "half.safetensors");
  const auto h = f.to_matrix<double>("h");
  CHECK(h(0, 0) == 1.0);
  CHECK(h(0, 1) == -2.5);
  CHECK(h(0, 2) == 65504.0);
  CHECK(h(0, 3) == std::ldexp(1.0, -24));
  const auto g = f.to_matrix<float>("g");
  CHECK(g(0, 0) == 1.0f);
  CHECK(g(1, 0) == -2.5f);
  CHECK(g(2, 0) == 3.140625f);
}

TEST_CASE("safetensors writer: round trip through the reader in F64, F32, F16 and BF16, U8 untouched") {
  temp_dir dir("st_writer");
  tern::matrix<double> m(2, 3);
  m << 1.0, -2.5, 0.1, 1e-3, 300.0, -0.0;
  std::vector<std::vector<std::uint8_t>> keep;
  std::vector<tern::safetensors_entry> entries;
  for (auto d : {safetensors_dtype::F64, safetensors_dtype::F32, safetensors_dtype::F16, safetensors_dtype::BF16}) {
    keep.push_back(tern::encode_floats(m, d));
    entries.push_back({std::string("m_") + tern::dtype_name(d), d, {2, 3}, keep.back()});
  }
  const std::vector<std::uint8_t> u8 = {7, 0, 255};
  entries.push_back({"codes", safetensors_dtype::U8, {3}, u8});
  const auto path = (dir.path / "w.safetensors").string();
  tern::write_safetensors(path, entries, {{"format", "pt"}});
  CHECK_FALSE(fs::exists(path + ".tmp"));
  for (bool mmap : {true, false}) {
    const auto f = safetensors_file::open(path, mmap);
    CHECK(f.to_matrix<double>("m_F64") == m);
    CHECK(f.to_matrix<double>("m_F32") == m.cast<float>().cast<double>());
    const auto h = f.to_matrix<double>("m_F16");
    const auto b = f.to_matrix<double>("m_BF16");
    for (tern::index i = 0; i < m.size(); ++i) {
      CHECK(h.data()[i] == double(float(Eigen::half(float(m.data()[i])))));
      CHECK(b.data()[i] == double(float(Eigen::bfloat16(float(m.data()[i])))));
      CHECK(std::abs(b.data()[i] - m.data()[i]) <= std::abs(m.data()[i]) / 128);  // 8 significant bits
    }
    const auto& c = f.at("codes");
    CHECK(c.dtype == safetensors_dtype::U8);
    CHECK(std::vector<std::uint8_t>(c.bytes.begin(), c.bytes.end()) == u8);
    CHECK_THROWS_WITH(f.to_matrix<float>("codes"), Catch::Contains("'codes'") && Catch::Contains("not a float type"));
  }
  CHECK_THROWS_WITH(tern::write_safetensors((dir.path / "no_such_dir" / "x.safetensors").string(), entries),
                    Catch::Contains("cannot open"));
  const std::vector<tern::safetensors_entry> bad = {{"x", safetensors_dtype::F32, {2}, u8}};
  CHECK_THROWS_WITH(tern::write_safetensors(path, bad), Catch::Contains("'x'") && Catch::Contains("need 8"));
}

TEST_CASE("safetensors reader: each rule of the format is enforced, the message names the field") {
  const auto data = f32_bytes({1, 2});
  struct bad_case {
    std::string header, expect;
  };
  const std::vector<bad_case> cases = {
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", "appears twice"},
      {R"({"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", "dtype: unknown dtype \"F33\""},
      {R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", "tensor 'a': shape [3] x F32 is 12 bytes"},
      {R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", "shape[0] must be an unsigned integer"},
      {R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", "shape[0] must be an unsigned integer"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", "begin 8 is after end 0"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", "data_offsets must be an array [begin, end]"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", "unknown field \"x\""},
      {R"({"a":{"dtype":"F32","shape":[2]}})", "missing field \"data_offsets\""},
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", "overlap"},
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", "leaves a hole"},
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", "trailing bytes"},
      {R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", "past the data section"},
      {R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})", "overflows"},
      {R"({"__metadata__":{"k":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", "__metadata__: value of \"k\""},
      {R"({"a":[1,2]})", "tensor 'a': entry must be an object"},
      {R"(["a"])", "header does not start with '{'"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})", "not valid JSON"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}x)", "not valid JSON"},
  };
  for (const auto& c : cases) {
    INFO(c.header);
    const std::string err = parse_error(image(c.header, data));
    CHECK_THAT(err, Catch::Contains("safetensors 't.safetensors'") && Catch::Contains(c.expect));
  }
  // The length field: beyond the file, beyond the format's limit, shorter than the file allows.
  auto img = good_image();
  img[0] = 0xff;
  img[1] = 0xff;
  CHECK_THAT(parse_error(img), Catch::Contains("runs past the end of the file"));
  img = good_image();
  img[4] = 1;
  CHECK_THAT(parse_error(img), Catch::Contains("exceeds the format's limit"));
  CHECK_THAT(parse_error({1, 2, 3}), Catch::Contains("shorter than the 8-byte header length"));
  // Tensors of zero bytes and an empty file body are valid.
  CHECK(parse_error(image(R"({"e":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]}})", {})).empty());
  CHECK(parse_error(image("{}", {})).empty());
}

TEST_CASE("safetensors reader: every truncation of a valid file is a clear error") {
  const auto img = good_image();
  REQUIRE(parse_error(img).empty());
  for (std::size_t len = 0; len < img.size(); ++len) {
    INFO("length " << len);
    const std::vector<std::uint8_t> cut(img.begin(), img.begin() + std::ptrdiff_t(len));
    CHECK_THAT(parse_error(cut), Catch::StartsWith("safetensors 't.safetensors': "));
  }
}

TEST_CASE("safetensors reader: every single-byte corruption of the header is an error or a valid file") {
  // A changed byte either breaks a rule (a clear error) or leaves a file that still obeys every
  // rule (e.g. a letter of a tensor name, "F32" -> "I32"): then it parses. Nothing else may happen.
  const auto img = good_image();
  const std::size_t header_end = img.size() - 24;
  std::size_t errors = 0, valid = 0;
  for (std::size_t pos = 0; pos < header_end; ++pos) {
    for (int v = 0; v < 256; ++v) {
      if (v == img[pos]) continue;
      auto bad = img;
      bad[pos] = std::uint8_t(v);
      const std::string err = parse_error(bad);
      if (err.empty()) {
        ++valid;
        const auto h = tern::hf::parse_safetensors_header(bad, "t.safetensors");
        std::uint64_t covered = 0;
        for (const auto& t : h.tensors) covered += t.bytes.size();
        CHECK(covered == 24);
        CHECK(pos >= 8);  // every change of the length field breaks the file
      } else {
        ++errors;
        if (err.rfind("safetensors 't.safetensors': ", 0) != 0) FAIL("unclear error at byte " << pos << ": " << err);
      }
    }
  }
  INFO("errors " << errors << ", still valid " << valid);
  CHECK(errors > 20 * valid);
}

TEST_CASE("safetensors checkpoint: sharded with an index, and the index's rules") {
  temp_dir dir("st_shards");
  write_file(dir.path / "model-00001-of-00002.safetensors",
             image(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", f32_bytes({1, 2})));
  write_file(dir.path / "model-00002-of-00002.safetensors",
             image(R"({"y":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", f32_bytes({3})));
  auto write_index = [&](const std::string& text) {
    std::ofstream(dir.path / "model.safetensors.index.json") << text;
  };
  write_index(R"({"metadata":{"total_size":12},"weight_map":{"x":"model-00001-of-00002.safetensors","y":"model-00002-of-00002.safetensors"}})");
  const auto c = tern::hf::safetensors_checkpoint::open(dir.path.string());
  CHECK(c.size() == 2);
  CHECK(c.shard_count() == 2);
  CHECK(c.to_matrix<float>("y")(0, 0) == 3.0f);
  CHECK(c.to_matrix<float>("x")(0, 1) == 2.0f);
  CHECK_THROWS_WITH(c.tensor("z"), Catch::Contains("no tensor 'z'"));

  write_index(R"({"weight_map":{"x":"model-00001-of-00002.safetensors","y":"model-00001-of-00002.safetensors"}})");
  CHECK_THROWS_WITH(tern::hf::safetensors_checkpoint::open(dir.path.string()),
                    Catch::Contains("tensor 'y' is listed in shard 'model-00001-of-00002.safetensors', which does not hold it"));
  write_index(R"({"weight_map":{"x":"../model-00001-of-00002.safetensors"}})");
  CHECK_THROWS_WITH(tern::hf::safetensors_checkpoint::open(dir.path.string()), Catch::Contains("not a plain file name"));
  write_index(R"({"weight_map":{"x":"model-00001-of-00002.safetensors","y":"missing.safetensors"}})");
  CHECK_THROWS_WITH(tern::hf::safetensors_checkpoint::open(dir.path.string()), Catch::Contains("missing.safetensors"));
  write_index(R"({"weight_map":[1]})");
  CHECK_THROWS_WITH(tern::hf::safetensors_checkpoint::open(dir.path.string()), Catch::Contains("weight_map: missing, or not an object"));
  // A shard that holds a tensor the index gives to another shard.
  write_file(dir.path / "model-00002-of-00002.safetensors",
             image(R"({"y":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                   f32_bytes({3, 4})));
  write_index(R"({"weight_map":{"x":"model-00001-of-00002.safetensors","y":"model-00002-of-00002.safetensors"}})");
  CHECK_THROWS_WITH(tern::hf::safetensors_checkpoint::open(dir.path.string()),
                    Catch::Contains("tensor 'x' is in shard 'model-00002-of-00002.safetensors' but weight_map puts it in"));
  write_index(R"({"weight_map":{"y":"model-00002-of-00002.safetensors"}})");
  CHECK_THROWS_WITH(tern::hf::safetensors_checkpoint::open(dir.path.string()),
                    Catch::Contains("index.json") && Catch::Contains("holds tensor 'x', which weight_map does not list"));
  fs::remove(dir.path / "model.safetensors.index.json");
  CHECK_THROWS_WITH(tern::hf::safetensors_checkpoint::open(dir.path.string()), Catch::Contains("neither"));
}
