// load_checkpoint against hostile files. The file layout is recomputed here from the format
// comment in io/checkpoint.hpp (not from the loader), and a small valid file is then
//   - cut at every length,
//   - flipped at every byte,
//   - set, field by field, to boundary values (0, 1, -1, +-1 of the true value, the extremes,
//     2^40), once as is and once with the checksum recomputed (xxHash's XXH3), so that the
//     loader's own checks, not only the checksum, must catch every structural lie,
//   - given non-finite or negative floats with a valid checksum.
// Every refusal must be a std::runtime_error that leaves the model, its gradients, the
// optimizer and the training state exactly as they were; a change the format allows (another
// step count, another finite weight) must load exactly that value. Saving: a full disk (a
// file-size limit, RLIMIT_FSIZE) or a failing rename leaves the old file and no temporary;
// values the loader would refuse are refused at save time.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <xxhash.h>

#include "tern/io/checkpoint.hpp"
#include "tern/train/trainer.hpp"
#include "train/tiny_layers.hpp"

namespace {

using mlp = tern_test::tiny_mlp<float>;
using bytes = std::vector<std::byte>;
const std::string tag = "tiny_mlp 4-6-2";

// ---- a small valid checkpoint: weights, 3 AdamW steps, training state ----
struct source_run {
  mlp model{4, 6, 2, 1};
  tern::adamw<float> opt;
  tern::train_state st;
  source_run() {
    tern::rng r(5);
    tern::trainer_options o;
    o.end_step = 3;
    o.tokens_per_step = 8;
    auto step = [&](std::int64_t) {
      tern::matrix<float> x(8, 4);
      for (tern::index i = 0; i < x.size(); ++i) x.data()[i] = float(r.normal());
      const tern::matrix<float> d = model.forward(x);
      model.backward(d * (2.0f / float(d.size())));
      return double(d.squaredNorm()) / double(d.size());
    };
    tern::train(model, opt, tern::lr_schedule(1e-2, 0, 3), st, step, o);
    st.rng_state = r.state();
  }
};

bytes read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string s = ss.str();
  bytes b(s.size());
  std::memcpy(b.data(), s.data(), s.size());
  return b;
}
void write_file(const std::string& path, const bytes& b, std::size_t n) {
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(b.data()), std::streamsize(n));
}
bool exists(const std::string& path) { return std::filesystem::exists(std::filesystem::symlink_status(path)); }

const bytes& good_file() {
  static const bytes b = [] {
    source_run s;
    const std::string path = "tern_robust_good.ckpt";
    tern::save_checkpoint(path, s.model, tag, &s.opt, &s.st);
    bytes out = read_file(path);
    std::remove(path.c_str());
    return out;
  }();
  return b;
}

// ---- the layout, from the format comment ----
enum class kind {
  structural,  // any change must be refused
  opt_steps,   // i64, valid iff > 0 (moments are present)
  count,       // i64 step / tokens of the training state, valid iff >= 0
  rng_word,    // u64, valid unless all four words are zero
};
struct field {
  std::string name;
  std::size_t offset, size;
  kind k = kind::structural;
  bool is_signed = false;
};
struct region {  // float data
  std::string name;
  std::size_t offset, count;
  bool second_moment = false;
};
struct layout {
  std::vector<field> fields;
  std::vector<region> data;
  std::size_t size = 0, checksum_offset = 0;
};

layout layout_of(mlp& m, std::size_t tag_size) {
  layout l;
  std::size_t at = 0;
  auto add = [&](std::string name, std::size_t size, kind k = kind::structural, bool is_signed = false) {
    l.fields.push_back({std::move(name), at, size, k, is_signed});
    at += size;
  };
  auto str = [&](const std::string& what, std::size_t n) {
    add(what + " length", 4);
    if (n) add(what + " bytes", n);
  };
  add("magic", 8);
  add("version", 4);
  str("tag", tag_size);
  add("scalar size", 4);
  add("tensor count", 8);
  std::vector<std::pair<std::string, tern::index>> tensors;
  m.for_each_parameter([&](std::string_view name, tern::parameter<float>& p) {
    tensors.emplace_back(std::string(name), p.value.size());
    str("name of " + std::string(name), name.size());
    add("rows of " + std::string(name), 8, kind::structural, true);
    add("cols of " + std::string(name), 8, kind::structural, true);
    l.data.push_back({std::string(name), at, std::size_t(p.value.size())});
    at += 4 * std::size_t(p.value.size());
  });
  add("optimizer flag", 1);
  add("optimizer step count", 8, kind::opt_steps, true);
  add("slot count", 8);
  for (const auto& [name, size] : tensors) {
    str("slot name of " + name, name.size());
    add("slot rows of " + name, 8, kind::structural, true);
    add("slot cols of " + name, 8, kind::structural, true);
    l.data.push_back({"m of " + name, at, std::size_t(size)});
    at += 4 * std::size_t(size);
    l.data.push_back({"v of " + name, at, std::size_t(size), true});
    at += 4 * std::size_t(size);
  }
  add("training-state flag", 1);
  add("training step", 8, kind::count, true);
  for (int w = 0; w < 4; ++w) add("rng word " + std::to_string(w), 8, kind::rng_word);
  add("token count", 8, kind::count, true);
  l.checksum_offset = at;
  add("checksum", 8);
  add("end marker", 4);
  l.size = at;
  return l;
}

std::uint64_t get_int(const bytes& b, const field& f) {
  std::uint64_t v = 0;
  std::memcpy(&v, b.data() + f.offset, f.size);  // little-endian host (asserted by the header)
  return v;
}
void set_int(bytes& b, const field& f, std::uint64_t v) { std::memcpy(b.data() + f.offset, &v, f.size); }
// XXH3-64 through xxHash's streaming API (its one-shot XXH3_64bits, inlined with AVX-512,
// trips a false -Wuninitialized inside GCC 12's avx512fintrin.h).
std::uint64_t xxh3(const void* p, std::size_t n) {
  XXH3_state_t s;
  XXH3_64bits_reset(&s);
  XXH3_64bits_update(&s, p, n);
  return XXH3_64bits_digest(&s);
}
void fix_checksum(bytes& b, const layout& l) {
  const std::uint64_t h = xxh3(b.data(), l.checksum_offset);
  std::memcpy(b.data() + l.checksum_offset, &h, 8);
}

// ---- the object loaded into, and proof that a refusal changed nothing ----
struct target {
  mlp model{4, 6, 2, 99};
  tern::adamw<float> opt;
  tern::train_state st;
  target() {
    model.for_each_parameter([](std::string_view, tern::parameter<float>& p) { p.grad.setConstant(0.25f); });
    tern::matrix<float> x = tern::matrix<float>::Ones(2, 4);
    model.backward(model.forward(x));
    opt.step(model);  // one step: moments exist and differ from the file's
    st.step = 11;
    st.tokens = 77;
    st.rng_state = tern::rng(123).state();
  }
};
struct snapshot {
  std::vector<tern::matrix<float>> values, grads, moments;
  std::int64_t opt_steps = 0;
  tern::train_state st;
  explicit snapshot(target& t) {
    t.model.for_each_parameter([&](std::string_view, tern::parameter<float>& p) {
      values.push_back(p.value);
      grads.push_back(p.grad);
    });
    t.opt.for_each_state([&](std::string_view, const tern::matrix<float>& m, const tern::matrix<float>& v) {
      moments.push_back(m);
      moments.push_back(v);
    });
    opt_steps = t.opt.step_count();
    st = t.st;
  }
  bool operator==(const snapshot& o) const {
    return values == o.values && grads == o.grads && moments == o.moments && opt_steps == o.opt_steps &&
           st.step == o.st.step && st.tokens == o.st.tokens && st.rng_state == o.st.rng_state;
  }
};

enum class outcome { refused, loaded, other };
// Loads b[0, n) into t; a refusal must leave t unchanged (checked here).
outcome load_into(target& t, const bytes& b, std::size_t n, std::string* message = nullptr) {
  const snapshot before(t);
  try {
    tern::load_checkpoint_bytes(std::span(b.data(), n), "hostile", t.model, tag, &t.opt, &t.st);
    return outcome::loaded;
  } catch (const std::runtime_error& e) {
    if (message) *message = e.what();
    const bool unchanged = snapshot(t) == before;
    CHECK(unchanged);
    return unchanged ? outcome::refused : outcome::other;
  } catch (...) {
    return outcome::other;  // bad_alloc, logic_error, ...: a failure of the loader
  }
}

}  // namespace

TEST_CASE("checkpoint layout: the format comment describes the bytes save_checkpoint writes") {
  mlp m(4, 6, 2, 1);
  const layout l = layout_of(m, tag.size());
  const bytes& b = good_file();
  REQUIRE(b.size() == l.size);
  CHECK(std::memcmp(b.data(), "TERNCKPT", 8) == 0);
  CHECK(std::memcmp(b.data() + b.size() - 4, "TEND", 4) == 0);
  CHECK(get_int(b, l.fields[1]) == tern::checkpoint_version);
  CHECK(get_int(b, l.fields[2]) == tag.size());
  const std::uint64_t h = xxh3(b.data(), l.checksum_offset);
  CHECK(std::memcmp(b.data() + l.checksum_offset, &h, 8) == 0);
  for (const auto& f : l.fields)
    if (f.name == "optimizer step count") CHECK(get_int(b, f) == 3);
  target t;
  CHECK(load_into(t, b, b.size()) == outcome::loaded);
  source_run s;
  CHECK(snapshot(t).values == [&] { std::vector<tern::matrix<float>> v; s.model.for_each_parameter([&](std::string_view, tern::parameter<float>& p) { v.push_back(p.value); }); return v; }());
  CHECK(t.opt.step_count() == 3);
  CHECK(t.st.step == 3);
  CHECK(t.st.tokens == 24);
}

TEST_CASE("checkpoint: every truncation is refused and changes nothing (memory and file)") {
  const bytes& b = good_file();
  target t;
  int refused = 0;
  for (std::size_t n = 0; n < b.size(); ++n) {
    INFO("length " << n);
    CHECK(load_into(t, b, n) == outcome::refused);
    ++refused;
  }
  CHECK(refused == int(b.size()));
  // The same through the file reader (its own bounds: remaining bytes of the real file).
  const std::string path = "tern_robust_trunc.ckpt";
  for (std::size_t n = 0; n < b.size(); ++n) {
    INFO("file length " << n);
    write_file(path, b, n);
    const snapshot before(t);
    try {
      tern::load_checkpoint(path, t.model, tag, &t.opt, &t.st);
      FAIL("a truncated file loaded");
    } catch (const std::runtime_error& e) {
      CHECK_THAT(e.what(), Catch::Contains(path));
    }
    CHECK(snapshot(t) == before);
  }
  // One byte too many.
  bytes longer = b;
  longer.push_back(std::byte{0});
  std::string msg;
  CHECK(load_into(t, longer, longer.size(), &msg) == outcome::refused);
  CHECK_THAT(msg, Catch::Contains("after the end marker"));
  std::remove(path.c_str());
}

TEST_CASE("checkpoint: every single-byte corruption is refused and changes nothing") {
  const bytes& b = good_file();
  target t;
  for (std::size_t i = 0; i < b.size(); ++i) {
    bytes c = b;
    c[i] ^= std::byte{0xff};
    INFO("byte " << i);
    CHECK(load_into(t, c, c.size()) == outcome::refused);
  }
}

TEST_CASE("checkpoint: every header field at boundary values, with and without a valid checksum") {
  mlp m(4, 6, 2, 1);
  const layout l = layout_of(m, tag.size());
  const bytes& b = good_file();
  target t;
  int refused = 0, loaded = 0;
  for (const auto& f : l.fields) {
    if (f.name == "checksum") continue;  // its own test below
    // Integer fields get boundary values; longer byte strings (tag, names) get other bytes.
    const bool integer = f.size == 1 || f.size == 4 || f.size == 8;
    const std::uint64_t mask = f.size == 8 ? ~std::uint64_t(0) : integer ? (1ULL << (8 * f.size)) - 1 : 0;
    const std::uint64_t orig = integer ? get_int(b, f) : 0;
    std::vector<std::uint64_t> trials;
    if (integer) {
      for (std::uint64_t v : std::initializer_list<std::uint64_t>{0, 1, 2, orig + 1, orig - 1, ~std::uint64_t(0),
                              mask >> 1, (mask >> 1) + 1, std::uint64_t(1) << 20, std::uint64_t(1) << 40})
        if ((v & mask) != orig && std::find(trials.begin(), trials.end(), v & mask) == trials.end())
          trials.push_back(v & mask);
    } else {
      trials.push_back(0);
    }
    for (std::uint64_t v : trials) {
      bytes c = b;
      if (integer) set_int(c, f, v);
      else
        for (std::size_t k = 0; k < f.size; ++k) c[f.offset + k] ^= std::byte{0x20};
      for (const bool valid_sum : {false, true}) {
        if (valid_sum) fix_checksum(c, l);
        const auto value = static_cast<std::int64_t>(f.size == 8 ? v : 0);
        INFO("field '" << f.name << "' = " << (f.is_signed ? std::to_string(value) : std::to_string(v))
                       << (valid_sum ? " (checksum fixed)" : " (checksum stale)"));
        bool may_load = false;
        if (valid_sum) {
          if (f.k == kind::opt_steps) may_load = value > 0;
          if (f.k == kind::count) may_load = value >= 0;
          if (f.k == kind::rng_word) may_load = true;  // the other three words stay nonzero
        }
        std::string msg;
        const outcome o = load_into(t, c, c.size(), &msg);
        if (may_load) {
          REQUIRE(o == outcome::loaded);
          ++loaded;
          if (f.name == "optimizer step count") CHECK(t.opt.step_count() == value);
          if (f.name == "training step") CHECK(t.st.step == value);
          if (f.name == "token count") CHECK(t.st.tokens == value);
          if (f.name.starts_with("rng word")) CHECK(t.st.rng_state[std::size_t(f.name.back() - '0')] == v);
        } else {
          CHECK(o == outcome::refused);
          CHECK_THAT(msg, Catch::Contains("load_checkpoint 'hostile'"));
          ++refused;
        }
      }
    }
  }
  CHECK(refused > 400);
  CHECK(loaded > 20);

  SECTION("the checksum field, and a lie that only the checksum can see") {
    bytes c = b;
    c[l.checksum_offset] ^= std::byte{1};
    std::string msg;
    CHECK(load_into(t, c, c.size(), &msg) == outcome::refused);
    CHECK_THAT(msg, Catch::Contains("checksum mismatch"));
    bytes d = b;
    float w = 0;
    std::memcpy(&w, d.data() + l.data[0].offset, 4);
    w = std::nextafter(w, 1e9f);  // a plausible weight, one ulp off
    std::memcpy(d.data() + l.data[0].offset, &w, 4);
    CHECK(load_into(t, d, d.size(), &msg) == outcome::refused);
    CHECK_THAT(msg, Catch::Contains("checksum mismatch"));
    fix_checksum(d, l);  // the same change, re-checksummed: a valid file with that weight
    REQUIRE(load_into(t, d, d.size()) == outcome::loaded);
    CHECK(t.model.w1.value(0, 0) == w);
  }
  SECTION("all-zero rng state with a valid checksum") {
    bytes c = b;
    for (const auto& f : l.fields)
      if (f.k == kind::rng_word) set_int(c, f, 0);
    fix_checksum(c, l);
    std::string msg;
    CHECK(load_into(t, c, c.size(), &msg) == outcome::refused);
    CHECK_THAT(msg, Catch::Contains("rng state is all zero"));
  }
}

TEST_CASE("checkpoint: non-finite values and negative second moments are refused even with a valid checksum") {
  mlp m(4, 6, 2, 1);
  const layout l = layout_of(m, tag.size());
  const bytes& b = good_file();
  target t;
  for (const auto& r : l.data)
    for (const float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(), -1.0f}) {
      if (bad == -1.0f && !r.second_moment) continue;  // a negative weight or first moment is fine
      for (const std::size_t at : {std::size_t(0), r.count - 1}) {
        bytes c = b;
        std::memcpy(c.data() + r.offset + 4 * at, &bad, 4);
        fix_checksum(c, l);
        INFO(r.name << "[" << at << "] = " << bad);
        std::string msg;
        CHECK(load_into(t, c, c.size(), &msg) == outcome::refused);
        CHECK_THAT(msg, Catch::Contains(bad == -1.0f ? "negative" : "non-finite"));
      }
    }
}

TEST_CASE("checkpoint: the issue's kinds - a lying optimizer field, a lying shape, a lying length") {
  mlp m(4, 6, 2, 1);
  const layout l = layout_of(m, tag.size());
  const bytes& b = good_file();
  auto find = [&](const std::string& name) {
    for (const auto& f : l.fields)
      if (f.name == name) return f;
    FAIL("no field " << name);
    return l.fields[0];
  };
  target t;
  std::string msg;
  {  // negative optimizer step count after valid weights: weights must not be committed
    bytes c = b;
    set_int(c, find("optimizer step count"), std::uint64_t(-5));
    fix_checksum(c, l);
    CHECK(load_into(t, c, c.size(), &msg) == outcome::refused);
    CHECK_THAT(msg, Catch::Contains("negative optimizer step count -5"));
  }
  {  // a tensor claiming 2^40 x 2^40 values: refused against the model's shape, nothing allocated
    bytes c = b;
    set_int(c, find("rows of w1"), std::uint64_t(1) << 40);
    set_int(c, find("cols of w1"), std::uint64_t(1) << 40);
    fix_checksum(c, l);
    CHECK(load_into(t, c, c.size(), &msg) == outcome::refused);
    CHECK_THAT(msg, Catch::Contains("1099511627776x1099511627776 in the file but 6x4 in the model"));
  }
  {  // a tag length of 4 GiB in a file of a few hundred bytes
    bytes c = b;
    set_int(c, find("tag length"), 0xffffffffu);
    CHECK(load_into(t, c, c.size(), &msg) == outcome::refused);
    CHECK_THAT(msg, Catch::Contains("implausible length"));
    set_int(c, find("tag length"), 60000);  // under the cap, over the bytes left
    CHECK(load_into(t, c, c.size(), &msg) == outcome::refused);
    CHECK_THAT(msg, Catch::Contains("truncated"));
  }
  {  // a tensor count of 2^63
    bytes c = b;
    set_int(c, find("tensor count"), std::uint64_t(1) << 63);
    CHECK(load_into(t, c, c.size(), &msg) == outcome::refused);
    CHECK_THAT(msg, Catch::Contains("tensors but the model has only 3"));
  }
  {  // version 1 (the previous format)
    bytes c = b;
    set_int(c, find("version"), 1);
    CHECK(load_into(t, c, c.size(), &msg) == outcome::refused);
    CHECK_THAT(msg, Catch::Contains("version 1 in the file, this build reads version 2"));
  }
}

TEST_CASE("checkpoint: state the caller did not ask for is validated and skipped") {
  const bytes& b = good_file();
  mlp m(4, 6, 2, 42);
  tern::load_checkpoint_bytes(std::span(b), "good", m, tag);
  source_run s;
  CHECK(m.w1.value == s.model.w1.value);
  mlp layout_model(4, 6, 2, 1);
  const layout l = layout_of(layout_model, tag.size());
  bytes c = b;
  for (const auto& r : l.data)
    if (r.name == "v of g") {
      const float nan = std::numeric_limits<float>::quiet_NaN();
      std::memcpy(c.data() + r.offset, &nan, 4);
    }
  fix_checksum(c, l);
  const tern::matrix<float> before = m.w1.value;
  CHECK_THROWS_WITH(tern::load_checkpoint_bytes(std::span(c), "bad moment", m, tag),
                    Catch::Contains("second moment of 'g'") && Catch::Contains("non-finite"));
  CHECK(m.w1.value == before);
}

TEST_CASE("checkpoint: paths that are not regular files are refused at once") {
  mlp m(4, 6, 2, 1);
  const std::string dir = "tern_robust_dir.ckpt";
  std::filesystem::create_directory(dir);
  CHECK_THROWS_WITH(tern::load_checkpoint(dir, m, tag), Catch::Contains(dir) && Catch::Contains("is a directory"));
  const std::string fifo = "tern_robust_fifo.ckpt";
  ::unlink(fifo.c_str());
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // No writer ever opens it: a plain open() for reading would block forever.
  CHECK_THROWS_WITH(tern::load_checkpoint(fifo, m, tag), Catch::Contains(fifo) && Catch::Contains("FIFO"));
  CHECK_THROWS_WITH(tern::load_checkpoint("/dev/zero", m, tag), Catch::Contains("character device"));
  CHECK_THROWS_WITH(tern::load_checkpoint("/nonexistent/x.ckpt", m, tag),
                    Catch::Contains("/nonexistent/x.ckpt") && Catch::Contains("No such file"));
  std::filesystem::remove(dir);
  ::unlink(fifo.c_str());
}

namespace {
// Caps the size of files this process may write (RLIMIT_FSIZE): writes past it fail with
// EFBIG, as on a full disk. SIGXFSZ is ignored so the failure is an error code, not a signal.
struct file_size_limit {
  rlimit old{};
  void (*old_handler)(int) = nullptr;
  explicit file_size_limit(rlim_t bytes) {
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
    old_handler = ::signal(SIGXFSZ, SIG_IGN);
    rlimit lim = old;
    lim.rlim_cur = bytes;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &lim) == 0);
  }
  ~file_size_limit() {
    ::setrlimit(RLIMIT_FSIZE, &old);
    ::signal(SIGXFSZ, old_handler);
  }
};
}  // namespace

TEST_CASE("save_checkpoint: a full disk or a failing rename keeps the old file and leaves no temporary") {
  const std::string path = "tern_robust_save.ckpt";
  source_run s;
  tern::save_checkpoint(path, s.model, tag, &s.opt, &s.st);
  const bytes old = read_file(path);
  mlp other(4, 6, 2, 7);
  tern::save_checkpoint(path + ".other", other, tag);
  const std::size_t other_size = read_file(path + ".other").size();
  std::remove((path + ".other").c_str());
  for (const rlim_t limit : {rlim_t(0), rlim_t(100), rlim_t(other_size - 1)}) {
    INFO("file size limit " << limit);
    {
      file_size_limit cap(limit);
      CHECK_THROWS_WITH(tern::save_checkpoint(path, other, tag), Catch::Contains(path + ".tmp") &&
                                                                     Catch::Contains("File too large"));
    }
    CHECK(read_file(path) == old);
    CHECK_FALSE(exists(path + ".tmp"));
  }
  // A limit the file fits under exactly: the save succeeds (the test can tell the two apart).
  {
    file_size_limit cap(old.size());
    CHECK_NOTHROW(tern::save_checkpoint(path, s.model, tag, &s.opt, &s.st));
  }
  CHECK(read_file(path) == old);

  // The destination is a directory: the rename fails after a complete write.
  const std::string dir = "tern_robust_save_dir.ckpt";
  std::filesystem::create_directory(dir);
  CHECK_THROWS_WITH(tern::save_checkpoint(dir, other, tag), Catch::Contains("cannot rename") && Catch::Contains(dir));
  CHECK_FALSE(exists(dir + ".tmp"));
  CHECK(std::filesystem::is_directory(dir));
  // An unwritable location.
  CHECK_THROWS_WITH(tern::save_checkpoint("/nonexistent/dir/x.ckpt", other, tag),
                    Catch::Contains("/nonexistent/dir/x.ckpt.tmp") && Catch::Contains("No such file"));
  std::filesystem::remove(dir);
  std::remove(path.c_str());
}

TEST_CASE("save_checkpoint: refuses what load_checkpoint would refuse, before writing anything") {
  const std::string path = "tern_robust_refuse.ckpt";
  std::remove(path.c_str());
  source_run s;
  s.model.w2.value(1, 3) = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH(tern::save_checkpoint(path, s.model, tag),
                    Catch::Contains("tensor 'w2'") && Catch::Contains("non-finite value at flat index 9"));
  CHECK_FALSE(exists(path));
  CHECK_FALSE(exists(path + ".tmp"));

  source_run ok;
  tern::train_state bad = ok.st;
  bad.tokens = -1;
  CHECK_THROWS_WITH(tern::save_checkpoint(path, ok.model, tag, &ok.opt, &bad), Catch::Contains("negative"));
  bad = ok.st;
  bad.rng_state = {};
  CHECK_THROWS_WITH(tern::save_checkpoint(path, ok.model, tag, &ok.opt, &bad), Catch::Contains("all zero"));
  // The optimizer of another model.
  tern_test::tiny_mlp<float> wide(4, 8, 2, 1);
  tern::adamw<float> wide_opt;
  tern::matrix<float> x = tern::matrix<float>::Ones(2, 4);
  wide.backward(wide.forward(x));
  wide_opt.step(wide);
  CHECK_THROWS_WITH(tern::save_checkpoint(path, ok.model, tag, &wide_opt), Catch::Contains("moments of 'w1'"));
  CHECK_FALSE(exists(path));
}
