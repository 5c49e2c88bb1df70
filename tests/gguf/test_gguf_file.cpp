// The GGUF container and its encodings: f16 conversions, TQ2_0 and TQ1_0 blocks against blocks
// built here byte by byte from the published layout, writer/reader round trips of every
// metadata type, and malformed files refused with a gguf_error naming the file and the field
// (every truncation, every kind of bad header field, random byte changes: never a crash).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "tern/io/gguf_file.hpp"
#include "tern/io/gguf_quants.hpp"
#include "tern/io/gguf_writer.hpp"

namespace tern {
namespace q = gguf_quants;

namespace {

bool refused(const std::vector<std::uint8_t>& b, const std::string& needle) {
  try {
    gguf_file::from_bytes(b.data(), b.size(), "bad.gguf");
  } catch (const gguf_error& e) {
    const std::string m = e.what();
    if (m.find("bad.gguf") == std::string::npos || m.find(needle) == std::string::npos) {
      UNSCOPED_INFO("message: " << m);
      return false;
    }
    return true;
  }
  return false;
}

/// A little file: two metadata values and one F32 tensor of 4 values at offset 0.
gguf_writer small_writer() {
  gguf_writer w;
  w.set("general.architecture", "test");
  w.set("answer", std::uint32_t(42));
  std::vector<std::uint8_t> d(16);
  const float v[4] = {1, 2, 3, 4};
  std::memcpy(d.data(), v, 16);
  w.add_tensor("t", {4}, gguf_tensor_type::f32, d);
  return w;
}

template <class V>
void poke(std::vector<std::uint8_t>& b, std::size_t at, V v) {
  std::memcpy(b.data() + at, &v, sizeof v);
}

}  // namespace

TEST_CASE("f16: known values, every half round-trips, rounding to nearest even", "[gguf]") {
  CHECK(q::to_f16(1.0f) == 0x3c00);
  CHECK(q::to_f16(-2.0f) == 0xc000);
  CHECK(q::to_f16(0.5f) == 0x3800);
  CHECK(q::to_f16(65504.0f) == 0x7bff);
  CHECK(q::to_f16(65520.0f) == 0x7c00);   // halfway to the next: rounds to even = infinity
  CHECK(q::to_f16(65519.0f) == 0x7bff);
  CHECK(q::to_f16(std::ldexp(1.0f, -24)) == 0x0001);  // smallest subnormal
  CHECK(q::to_f16(std::ldexp(1.0f, -25)) == 0x0000);  // halfway to it: rounds to even = 0
  CHECK(q::to_f16(std::ldexp(3.0f, -26)) == 0x0001);
  CHECK(q::to_f16(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);  // tie, even mantissa kept
  CHECK(q::to_f16(1.0f + std::ldexp(3.0f, -11)) == 0x3c02);  // tie, rounds up to even
  CHECK(q::from_f16(0x3555) == Approx(0.333251953125).epsilon(0));
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00) continue;
    const float f = q::from_f16(std::uint16_t(h));
    if (q::to_f16(f) != h) FAIL("half " << h << " does not round-trip");
  }
}

TEST_CASE("TQ2_0: a block built from the published layout decodes to the weights it says", "[gguf]") {
  // byte m of half h holds weights 128 h + m + 32 n at bits 2n, 2n+1, as q = w + 1
  std::uint8_t blk[66];
  std::memset(blk, 0x55, 64);  // every weight 0
  blk[0] = 0x92;   // 0b10'01'00'10: w0 = +1, w32 = -1, w64 = 0, w96 = +1
  blk[33] = 0x56;  // 0b01'01'01'10: w129 = +1, w161 = w193 = w225 = 0
  blk[63] = 0x15;  // 0b00'01'01'01: w255 = -1 (byte 31 of half 1, n = 3)
  blk[64] = 0x00;
  blk[65] = 0x38;  // d = 0.5
  std::int8_t w[256];
  int bad = -1;
  const int d = q::decode_tq2_0(blk, w, bad);
  REQUIRE(d == 0x3800);
  std::vector<int> want(256, 0);
  want[0] = 1, want[32] = -1, want[96] = 1, want[129] = 1, want[255] = -1;
  for (int e = 0; e < 256; ++e) CHECK(int(w[e]) == want[std::size_t(e)]);
  std::uint8_t again[66];
  q::encode_tq2_0(w, 0x3800, again);
  CHECK(std::memcmp(blk, again, 66) == 0);
  blk[5] = 0x57;  // w5 = code 3: not ternary
  CHECK(q::decode_tq2_0(blk, w, bad) == -1);
  CHECK(bad == 5);
}

TEST_CASE("TQ1_0: a block built from the published layout decodes to the weights it says", "[gguf]") {
  // all-zero codes: five trits of 1 = 121 -> ceil(121 * 256 / 243) = 128; qh: four 1s and a 0 = 120 -> 127
  std::uint8_t blk[54];
  std::memset(blk, 128, 48);
  std::memset(blk + 48, 127, 4);
  // qs[0]: weights 0, 32, 64, 96, 128 = (+1, 0, -1, 0, +1): trits 2 1 0 1 2 = 194 -> ceil(194 * 256 / 243) = 205
  blk[0] = 205;
  // qs[32]: weights 160, 176, 192, 208, 224 = (-1, 0, 0, 0, 0): 0 1 1 1 1 = 40 -> 43
  blk[32] = 43;
  // qh[0]: weights 240, 244, 248, 252 = (+1, 0, 0, 0): 2 1 1 1 (0) = 201 -> 212
  blk[48] = 212;
  // qh[3]: weights 243, 247, 251, 255 = (0, 0, 0, -1): 1 1 1 0 (0) = 117 -> 124
  blk[51] = 124;
  blk[52] = 0x00;
  blk[53] = 0x3c;  // d = 1
  std::int8_t w[256];
  int bad = -1;
  REQUIRE(q::decode_tq1_0(blk, w, bad) == 0x3c00);
  std::vector<int> want(256, 0);
  want[0] = 1, want[64] = -1, want[128] = 1, want[160] = -1, want[240] = 1, want[255] = -1;
  for (int e = 0; e < 256; ++e) CHECK(int(w[e]) == want[std::size_t(e)]);
  std::uint8_t again[54];
  q::encode_tq1_0(w, 0x3c00, again);
  CHECK(std::memcmp(blk, again, 54) == 0);
  // every base-3 number of five trits survives the byte scaling
  for (int t = 0; t < 243; ++t) {
    int tr[5], v = t;
    for (int n = 4; n >= 0; --n) tr[n] = v % 3, v /= 3;
    const std::uint8_t b = q::pack_trits5(tr);
    for (int n = 0; n < 5; ++n) REQUIRE(q::trit(b, n) == tr[n]);
  }
  std::uint8_t bad_blk[54];
  std::memcpy(bad_blk, blk, 54);
  bad_blk[7] = 1;  // decodes to trits 0 0 0 0 0, whose byte is 0: not an encoding
  CHECK(q::decode_tq1_0(bad_blk, w, bad) == -1);
  CHECK(bad == 7);
  std::memcpy(bad_blk, blk, 54);
  bad_blk[49] = 128;  // a qh byte with a fifth trit of 1
  CHECK(q::decode_tq1_0(bad_blk, w, bad) == -1);
  CHECK(bad == 49);
}

TEST_CASE("GGUF writer and reader: every metadata type, tensors of every type, alignment", "[gguf]") {
  gguf_writer w;
  w.set("general.alignment", std::uint32_t(64));
  w.set("k.u8", std::uint8_t(200));
  w.set("k.i8", std::int8_t(-100));
  w.set("k.u16", std::uint16_t(60000));
  w.set("k.i16", std::int16_t(-30000));
  w.set("k.u32", std::uint32_t(4000000000u));
  w.set("k.i32", std::int32_t(-2000000000));
  w.set("k.f32", 1.5f);
  w.set("k.bool", true);
  w.set("k.string", "h\xc3\xa9llo");
  w.set("k.u64", std::uint64_t(1) << 60);
  w.set("k.i64", -(std::int64_t(1) << 60));
  w.set("k.f64", 0.1);
  w.set("k.empty", gguf_value(gguf_type::string, {}));
  w.set("k.ints", gguf_value(gguf_type::i32, {gguf_value(std::int32_t(1)), gguf_value(std::int32_t(-2))}));
  w.set("k.nested", gguf_value(gguf_type::array, {gguf_value(gguf_type::f32, {gguf_value(1.0f)}),
                                                   gguf_value(gguf_type::f32, {})}));
  const std::vector<std::pair<gguf_tensor_type, std::vector<std::uint64_t>>> ts = {
      {gguf_tensor_type::f32, {3}}, {gguf_tensor_type::f16, {5, 2}}, {gguf_tensor_type::bf16, {7, 1, 2}},
      {gguf_tensor_type::tq1_0, {256, 2}}, {gguf_tensor_type::tq2_0, {512, 3}}};
  std::vector<std::vector<std::uint8_t>> data;
  std::mt19937 rng(3);
  for (std::size_t i = 0; i < ts.size(); ++i) {
    std::vector<std::uint8_t> d(detail::gguf::tensor_bytes(ts[i].first, ts[i].second));
    for (auto& b : d) b = std::uint8_t(rng());
    data.push_back(d);
    w.add_tensor("tensor." + std::to_string(i), ts[i].second, ts[i].first, d);
  }
  const std::vector<std::uint8_t> bytes = w.bytes();
  const gguf_file f = gguf_file::from_bytes(bytes.data(), bytes.size(), "rt.gguf");
  CHECK(f.alignment() == 64);
  CHECK(f.data_offset() % 64 == 0);
  REQUIRE(f.metadata().size() == 16);
  CHECK(f.metadata()[1].first == "k.u8");
  CHECK(*f.find("k.u8") == gguf_value(std::uint8_t(200)));
  CHECK(*f.find("k.i16") == gguf_value(std::int16_t(-30000)));
  CHECK(*f.find("k.u32") == gguf_value(std::uint32_t(4000000000u)));
  CHECK(*f.find("k.f64") == gguf_value(0.1));
  CHECK(*f.find("k.bool") == gguf_value(true));
  CHECK(f.get_string("k.string") == "h\xc3\xa9llo");
  CHECK(f.find("k.empty")->items().empty());
  CHECK(f.find("k.empty")->element_type() == gguf_type::string);
  CHECK(f.find("k.nested")->items().size() == 2);
  CHECK(f.find("k.nested")->items()[0].items()[0] == gguf_value(1.0f));
  CHECK(f.get_uint("k.u64") == (std::uint64_t(1) << 60));
  CHECK_THROWS_AS(f.get_uint("k.i8"), gguf_error);  // negative
  CHECK_THROWS_AS(f.get_string("missing"), gguf_error);
  const std::vector<std::uint64_t> off = w.offsets();
  REQUIRE(f.tensors().size() == ts.size());
  for (std::size_t i = 0; i < ts.size(); ++i) {
    const gguf_tensor_info& t = f.tensors()[i];
    CHECK(t.name == "tensor." + std::to_string(i));
    CHECK(t.type == ts[i].first);
    CHECK(t.dims == ts[i].second);
    CHECK(t.offset == off[i]);
    CHECK(t.offset % 64 == 0);
    CHECK(std::memcmp(f.tensor_data(t).get(), data[i].data(), data[i].size()) == 0);
  }
  CHECK(gguf_writer(w).bytes() == bytes);  // deterministic
}

TEST_CASE("GGUF writer refuses what the format cannot hold", "[gguf]") {
  gguf_writer w;
  CHECK_THROWS_AS(w.set("general.alignment", std::uint32_t(24)), gguf_error);
  CHECK_THROWS_AS(w.set("general.alignment", std::uint64_t(32)), gguf_error);
  CHECK_THROWS_AS(w.add_tensor("x", {100, 2}, gguf_tensor_type::tq2_0, std::vector<std::uint8_t>(132)), gguf_error);
  CHECK_THROWS_AS(w.add_tensor("x", {256}, gguf_tensor_type::tq2_0, std::vector<std::uint8_t>(65)), gguf_error);
  CHECK_THROWS_AS(w.add_tensor(std::string(64, 'n'), {1}, gguf_tensor_type::f32, std::vector<std::uint8_t>(4)), gguf_error);
  CHECK_THROWS_AS(w.add_tensor("x", {1, 1, 1, 1, 1}, gguf_tensor_type::f32, std::vector<std::uint8_t>(4)), gguf_error);
  w.add_tensor("x", {1}, gguf_tensor_type::f32, std::vector<std::uint8_t>(4));
  CHECK_THROWS_AS(w.add_tensor("x", {1}, gguf_tensor_type::f32, std::vector<std::uint8_t>(4)), gguf_error);
  CHECK_THROWS_AS(gguf_value(gguf_type::i32, {gguf_value(1.0f)}), std::invalid_argument);
}

TEST_CASE("GGUF reader refuses malformed files, naming the file and the field", "[gguf]") {
  const std::vector<std::uint8_t> good = small_writer().bytes();
  REQUIRE_NOTHROW(gguf_file::from_bytes(good.data(), good.size(), "good.gguf"));
  // header: magic at 0, version at 4, tensor count at 8, metadata count at 16; first key at 24
  auto b = good;
  b[0] = 'X';
  CHECK(refused(b, "magic"));
  b = good;
  poke<std::uint32_t>(b, 4, 2);
  CHECK(refused(b, "version"));
  b = good;
  poke<std::uint64_t>(b, 8, std::uint64_t(1) << 40);
  CHECK(refused(b, "tensor_count"));
  b = good;
  poke<std::uint64_t>(b, 16, std::uint64_t(1) << 40);
  CHECK(refused(b, "metadata_kv_count"));
  b = good;
  poke<std::uint64_t>(b, 24, std::uint64_t(1) << 50);  // first key's length
  CHECK(refused(b, "runs past the end"));
  // the first key is "general.architecture" (20 bytes): its type at 24 + 8 + 20
  b = good;
  poke<std::uint32_t>(b, 52, 13);
  CHECK(refused(b, "unknown value type 13"));
  b = good;
  b[32] = 0xff;  // the key is no longer UTF-8
  CHECK(refused(b, "not valid UTF-8"));

  {
    // duplicate key: two keys of the same length, the second rewritten to equal the first
    gguf_writer w;
    w.set("aaaa", std::uint8_t(1));
    w.set("bbbb", std::uint8_t(2));
    auto x = w.bytes();
    const std::string k = "bbbb";
    auto it = std::search(x.begin(), x.end(), k.begin(), k.end());
    std::memcpy(&*it, "aaaa", 4);
    CHECK(refused(x, "appears twice"));
  }
  {
    gguf_writer w;
    w.add_tensor("aaaa", {4}, gguf_tensor_type::f32, std::vector<std::uint8_t>(16));
    w.add_tensor("bbbb", {4}, gguf_tensor_type::f32, std::vector<std::uint8_t>(16));
    auto x = w.bytes();
    const std::string k = "bbbb";
    std::memcpy(&*std::search(x.begin(), x.end(), k.begin(), k.end()), "aaaa", 4);
    CHECK(refused(x, "appears twice"));
  }
  // the tensor info of small_writer sits right before the padding: name "t" (8 + 1), n_dims, dim, type, offset
  const gguf_file f = gguf_file::from_bytes(good.data(), good.size(), "good.gguf");
  const std::size_t info_end = [&] {
    // the metadata ends where the tensor name's length (1) begins: find it from the end of the header
    std::size_t at = 24;
    for (int i = 0; i < 2; ++i) {
      std::uint64_t n;
      std::memcpy(&n, good.data() + at, 8);
      at += 8 + n;
      std::uint32_t t;
      std::memcpy(&t, good.data() + at, 4);
      at += 4;
      if (t == 8) {
        std::memcpy(&n, good.data() + at, 8);
        at += 8 + n;
      } else {
        at += 4;
      }
    }
    return at;  // start of the tensor info
  }();
  const std::size_t ndims_at = info_end + 9, dim_at = ndims_at + 4, type_at = dim_at + 8, off_at = type_at + 4;
  b = good;
  poke<std::uint32_t>(b, ndims_at, 5);
  CHECK(refused(b, "n_dims"));
  b = good;
  poke<std::uint64_t>(b, dim_at, 0);
  CHECK(refused(b, "dims"));
  b = good;
  poke<std::uint64_t>(b, dim_at, std::uint64_t(1) << 62);  // 2^62 F32 values: 2^64 bytes
  CHECK(refused(b, "overflows"));
  b = good;
  poke<std::uint64_t>(b, dim_at, 1000);
  CHECK(refused(b, "run past the end"));
  b = good;
  poke<std::uint32_t>(b, type_at, 12);  // Q4_K
  CHECK(refused(b, "ggml type 12"));
  b = good;
  poke<std::uint32_t>(b, type_at, 35);  // TQ2_0 with 4 weights per row
  CHECK(refused(b, "multiple of the TQ2_0 block"));
  b = good;
  poke<std::uint64_t>(b, off_at, 4);
  CHECK(refused(b, "not a multiple of the alignment"));
  b = good;
  poke<std::uint64_t>(b, off_at, 1 << 20);
  CHECK(refused(b, "run past the end"));
  b = good;
  b[off_at + 8] = 1;  // padding before the data section
  CHECK(refused(b, "padding"));
  {
    gguf_writer w;
    w.set("general.alignment", std::uint32_t(32));
    auto x = w.bytes();
    const std::string k = "general.alignment";
    auto it = std::search(x.begin(), x.end(), k.begin(), k.end());
    poke<std::uint32_t>(x, std::size_t(it - x.begin()) + k.size() + 4, 48);
    CHECK(refused(x, "not a power of two"));
  }
  {
    gguf_writer w;
    w.add_tensor("a", {16}, gguf_tensor_type::f32, std::vector<std::uint8_t>(64));
    w.add_tensor("b", {4}, gguf_tensor_type::f32, std::vector<std::uint8_t>(16));
    auto x = w.bytes();
    const gguf_file g = gguf_file::from_bytes(x.data(), x.size(), "ok.gguf");
    // tensor b's offset is the last 8 bytes of its info, before the padding: set it to 32 (inside a)
    const std::string k = "b";
    std::size_t at = 0;
    for (std::size_t i = 0; i + 1 < x.size(); ++i)
      if (x[i] == 1 && x[i + 8] == 'b' && std::memcmp(x.data() + i + 1, "\0\0\0\0\0\0\0", 7) == 0) at = i + 9;
    REQUIRE(at > 0);
    poke<std::uint64_t>(x, at + 4 + 8 + 4, 32);
    CHECK(refused(x, "overlaps"));
    (void)g;
  }
  // every truncation is refused (never read past the end)
  for (std::size_t n = 0; n < good.size(); ++n) {
    std::vector<std::uint8_t> t(good.begin(), good.begin() + std::ptrdiff_t(n));
    bool threw = false;
    try {
      gguf_file::from_bytes(t.data(), t.size(), "cut.gguf");
    } catch (const gguf_error&) {
      threw = true;
    }
    if (!threw) FAIL("a file cut to " << n << " bytes was accepted");
  }
  // random byte changes: a gguf_error or a valid file, nothing else
  std::mt19937 rng(11);
  for (int i = 0; i < 3000; ++i) {
    auto x = good;
    for (int k = 0; k < 1 + i % 3; ++k) x[rng() % x.size()] = std::uint8_t(rng());
    try {
      gguf_file::from_bytes(x.data(), x.size(), "fuzz.gguf");
    } catch (const gguf_error&) {
    }
  }
  (void)f;
}

}  // namespace tern
