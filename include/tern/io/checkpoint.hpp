#pragma once
// Checkpoints: a model's parameters, the AdamW state (moments and step count) and the
// training state (step, data rng, tokens seen), so that a resumed run continues bit for bit.
//
// File layout, version 2 (little-endian; integers fixed width; str = u32 length + bytes):
//   "TERNCKPT"                    8-byte magic
//   u32 version                   checkpoint_version (2)
//   str model_tag                 the caller's description of model type and config
//   u32 scalar_bytes              sizeof(T): 4 (float) or 8 (double)
//   u64 n_tensors, then per tensor: str name, i64 rows, i64 cols, rows * cols T (row-major)
//   u8 has_optimizer (0 or 1); if 1:
//       i64 step_count, u64 n_slots (0 or n_tensors),
//       per slot: str name, i64 rows, i64 cols, rows * cols T (m), rows * cols T (v)
//   u8 has_train_state (0 or 1); if 1: i64 step, 4 x u64 rng state, i64 tokens
//   u64 checksum                  XXH3-64 (io/checksum.hpp) of every byte above, magic included
//   "TEND"                        4-byte end marker; nothing may follow it
// Strings are at most checkpoint_max_string bytes.
//
// Loading parses and validates the WHOLE file into temporaries before anything is changed,
// then commits with operations that cannot throw (swaps and moves), so on any error the
// model, optimizer and training state are exactly as before. Checked, in file order:
//   - the path is a regular file (a directory, FIFO or device is refused without blocking);
//   - magic, version, model tag, scalar size; flag bytes are 0 or 1;
//   - tensors: count, then each name and shape against the model BEFORE any allocation, and
//     every length against the bytes left in the file (a lying length never allocates);
//   - every loaded value is finite; second moments are >= 0;
//   - optimizer: step_count >= 0, slot count 0 or the model's tensor count, moments present
//     exactly when step_count > 0, slot names and shapes as the model's;
//   - training state: step >= 0, tokens >= 0, rng state not all zero (invalid for xoshiro);
//   - the checksum (corruption that keeps every field plausible), the end marker, and no
//     trailing bytes.
// Errors are std::runtime_error "load_checkpoint '<file>': <the first failing check>".
// A file written with a different version is refused (no silent conversion).
//
// Saving checks what it writes the same way (names, shapes and slot order against the model,
// finite values, valid training state), so a file save_checkpoint writes always loads. It
// writes `path + ".tmp"` and renames it over `path` only after every write, fsync and close
// succeeded (io/atomic_file_writer.hpp): a failed or interrupted save leaves the old file.
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tern/core/matrix.hpp"
#include "tern/core/parameter.hpp"
#include "tern/data/rng.hpp"
#include "tern/io/atomic_file_writer.hpp"
#include "tern/io/checksum.hpp"
#include "tern/io/regular_file.hpp"
#include "tern/optim/adamw.hpp"
#include "tern/optim/parameterized.hpp"

namespace tern {

inline constexpr std::uint32_t checkpoint_version = 2;
/// Longest model tag or tensor name a checkpoint holds (bytes).
inline constexpr std::uint32_t checkpoint_max_string = 1u << 16;

/// Where a training run is: what a resumed run needs beyond weights and optimizer.
struct train_state {
  std::int64_t step = 0;        ///< optimizer steps done
  /// The data sampler's generator (so batches continue in order). Defaults to the state of
  /// rng(0): never the all-zero state, which xoshiro256** cannot leave and checkpoints refuse.
  rng::state_type rng_state = rng(0).state();
  std::int64_t tokens = 0;      ///< training tokens consumed
};

namespace detail {

static_assert(std::endian::native == std::endian::little, "tern checkpoints assume a little-endian host");

inline std::string shape_of(index r, index c) { return std::to_string(r) + "x" + std::to_string(c); }

/// Index of the first non-finite value in [p, p + n), or n if all are finite.
template <class T>
std::size_t first_non_finite(const T* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(p[i])) return i;
  return n;
}

/// The bytes of a checkpoint being read: a regular file, or a buffer in memory.
class ckpt_file_source {
 public:
  explicit ckpt_file_source(const std::string& path) : file_(path, "load_checkpoint") {}
  std::uint64_t remaining() const { return file_.remaining(); }
  void read(void* p, std::size_t n) { file_.read(p, n); }

 private:
  regular_file file_;
};

class ckpt_memory_source {
 public:
  explicit ckpt_memory_source(std::span<const std::byte> bytes) : bytes_(bytes) {}
  std::uint64_t remaining() const { return bytes_.size() - pos_; }
  void read(void* p, std::size_t n) {
    if (n > remaining()) throw std::logic_error("ckpt_memory_source: read past the end");
    if (n != 0) std::memcpy(p, bytes_.data() + pos_, n);
    pos_ += n;
  }

 private:
  std::span<const std::byte> bytes_;
  std::size_t pos_ = 0;
};

/// Reads fields, bounding every length by the bytes left and feeding the checksum.
template <class Source>
class ckpt_reader {
 public:
  ckpt_reader(Source& src, std::string origin) : src_(src), origin_(std::move(origin)) {}

  [[noreturn]] void fail(const std::string& msg) const {
    throw std::runtime_error("load_checkpoint '" + origin_ + "': " + msg);
  }
  std::uint64_t remaining() const { return src_.remaining(); }

  void bytes(void* p, std::size_t n, const std::string& what) {
    if (n > src_.remaining())
      fail("file ends early while reading " + what + " (truncated?): " + std::to_string(n) + " bytes needed, " +
           std::to_string(src_.remaining()) + " left");
    src_.read(p, n);
    sum_.update(p, n);
  }
  template <class V>
  V pod(const std::string& what) {
    V v{};
    bytes(&v, sizeof(V), what);
    return v;
  }
  bool flag(const std::string& what) {
    const auto b = pod<std::uint8_t>(what);
    if (b > 1) fail(what + " is " + std::to_string(b) + ", must be 0 or 1 (corrupt file)");
    return b == 1;
  }
  std::string str(const std::string& what) {
    const auto n = pod<std::uint32_t>("the length of " + what);
    if (n > checkpoint_max_string)
      fail("implausible length " + std::to_string(n) + " for " + what + " (at most " +
           std::to_string(checkpoint_max_string) + ")");
    if (n > src_.remaining())
      fail("file ends early while reading " + what + " (truncated?): its length is " + std::to_string(n) +
           " bytes, " + std::to_string(src_.remaining()) + " left");
    std::string s(n, '\0');
    bytes(s.data(), n, what);
    return s;
  }
  /// Reads a shape (i64 rows, i64 cols) and requires it to equal (rows, cols).
  void shape(const std::string& what, index rows, index cols) {
    const auto r = pod<std::int64_t>("the rows of " + what);
    const auto c = pod<std::int64_t>("the columns of " + what);
    if (r < 0 || c < 0) fail(what + " has a negative shape " + std::to_string(r) + "x" + std::to_string(c));
    if (r != rows || c != cols)
      fail(what + " is " + std::to_string(r) + "x" + std::to_string(c) + " in the file but " + shape_of(rows, cols) +
           " in the model");
  }
  /// Throws unless n values of T are left in the file (called before allocating them).
  template <class T>
  void need(std::size_t n, const std::string& what) const {
    if (n > src_.remaining() / sizeof(T))
      fail("file ends early while reading the data of " + what + " (truncated?): " + std::to_string(n) +
           " values needed, " + std::to_string(src_.remaining()) + " bytes left");
  }
  /// n values of T into p, all finite.
  template <class T>
  void values(T* p, std::size_t n, const std::string& what) {
    need<T>(n, what);
    bytes(p, n * sizeof(T), "the data of " + what);
    if (const std::size_t i = first_non_finite(p, n); i != n)
      fail(what + " holds a non-finite value at flat index " + std::to_string(i) + " (corrupt file)");
  }
  /// The same, checked but not kept (state nobody asked for), in bounded pieces.
  template <class T>
  void skip_values(std::size_t n, const std::string& what) {
    need<T>(n, what);
    std::vector<T> buf(std::min<std::size_t>(n, 4096));
    for (std::size_t done = 0; done < n;) {
      const std::size_t k = std::min(buf.size(), n - done);
      values(buf.data(), k, what);
      done += k;
    }
  }
  /// The stored checksum: read past the checksummed bytes and compared with them.
  void check_sum() {
    const std::uint64_t computed = sum_.digest();
    std::uint64_t stored = 0;
    if (sizeof stored > src_.remaining()) fail("file ends early while reading the checksum (truncated?)");
    src_.read(&stored, sizeof stored);
    if (stored != computed)
      fail("checksum mismatch (corrupt file): stored " + std::to_string(stored) + ", computed " +
           std::to_string(computed));
  }
  void end() {
    std::array<char, 4> marker{};
    if (marker.size() > src_.remaining()) fail("file ends early while reading the end marker (truncated?)");
    src_.read(marker.data(), marker.size());
    if (std::string_view(marker.data(), marker.size()) != "TEND") fail("bad end marker (corrupt file)");
    if (src_.remaining() != 0) fail(std::to_string(src_.remaining()) + " unexpected bytes after the end marker");
  }

 private:
  Source& src_;
  std::string origin_;
  checksum_state sum_;
};

/// Writes fields and their checksum.
class ckpt_writer {
 public:
  explicit ckpt_writer(const std::string& path) : out_(path, "save_checkpoint") {}
  void raw(const void* p, std::size_t n) {
    out_.write(p, n);
    sum_.update(p, n);
  }
  template <class V>
  void pod(const V& v) { raw(&v, sizeof(V)); }
  void str(std::string_view s) {
    pod(static_cast<std::uint32_t>(s.size()));
    raw(s.data(), s.size());
  }
  template <class T>
  void mat(const matrix<T>& m) {
    pod(static_cast<std::int64_t>(m.rows()));
    pod(static_cast<std::int64_t>(m.cols()));
    raw(m.data(), sizeof(T) * static_cast<std::size_t>(m.size()));
  }
  void finish() {
    const std::uint64_t digest = sum_.digest();
    out_.write(&digest, sizeof digest);
    out_.write("TEND", 4);
    out_.commit();
  }

 private:
  atomic_file_writer out_;
  checksum_state sum_;
};

/// Throws std::invalid_argument "save_checkpoint '<path>': ..." unless what save would write
/// is a file that load accepts.
template <Parameterized M>
void check_saveable(const std::string& path, M& model, std::string_view model_tag,
                    const adamw<typename M::scalar>* opt, const train_state* state) {
  using T = typename M::scalar;
  const auto fail = [&](const std::string& msg) {
    throw std::invalid_argument("save_checkpoint '" + path + "': " + msg);
  };
  const auto finite = [&](const matrix<T>& m, const std::string& what) {
    const auto n = static_cast<std::size_t>(m.size());
    if (const std::size_t i = first_non_finite(m.data(), n); i != n)
      fail(what + " holds a non-finite value at flat index " + std::to_string(i) +
           " (a checkpoint stores finite values only)");
  };
  if (model_tag.size() > checkpoint_max_string) fail("the model tag is longer than checkpoint_max_string");
  std::vector<std::string> names;
  std::vector<const matrix<T>*> values;
  model.for_each_parameter([&](std::string_view name, parameter<T>& p) {
    if (name.size() > checkpoint_max_string) fail("a tensor name is longer than checkpoint_max_string");
    finite(p.value, "tensor '" + std::string(name) + "'");
    names.emplace_back(name);
    values.push_back(&p.value);
  });
  if (opt) {
    if (opt->step_count() < 0) fail("the optimizer step count is negative");
    if (!names.empty() && (opt->slot_count() == 0) != (opt->step_count() == 0))
      fail("the optimizer has " + std::to_string(opt->slot_count()) + " slots at step " +
           std::to_string(opt->step_count()) + " (moments exist exactly after the first step)");
    if (opt->slot_count() != 0 && opt->slot_count() != names.size())
      fail("the optimizer has " + std::to_string(opt->slot_count()) + " slots but the model has " +
           std::to_string(names.size()) + " tensors");
    std::size_t i = 0;
    opt->for_each_state([&](std::string_view name, const matrix<T>& m, const matrix<T>& v) {
      if (name != names[i])
        fail("optimizer slot #" + std::to_string(i) + " is '" + std::string(name) + "' but model tensor #" +
             std::to_string(i) + " is '" + names[i] + "'");
      if (m.rows() != values[i]->rows() || m.cols() != values[i]->cols() || v.rows() != m.rows() || v.cols() != m.cols())
        fail("the optimizer moments of '" + names[i] + "' do not have the tensor's shape " +
             shape_of(values[i]->rows(), values[i]->cols()));
      finite(m, "the first moment of '" + names[i] + "'");
      finite(v, "the second moment of '" + names[i] + "'");
      if ((v.array() < T(0)).any()) fail("the second moment of '" + names[i] + "' has a negative value");
      ++i;
    });
  }
  if (state) {
    if (state->step < 0 || state->tokens < 0) fail("the training state has a negative step or token count");
    if (std::all_of(state->rng_state.begin(), state->rng_state.end(), [](std::uint64_t w) { return w == 0; }))
      fail("the training state's rng state is all zero (not a valid xoshiro256** state)");
  }
}

/// Parses and validates a whole checkpoint from `src`, then commits it (see the file comment).
template <class Source, Parameterized M>
void load_checkpoint_from(Source& src, const std::string& origin, M& model, std::string_view model_tag,
                          adamw<typename M::scalar>* opt, train_state* state) {
  using T = typename M::scalar;
  ckpt_reader<Source> r(src, origin);
  std::array<char, 8> magic{};
  r.bytes(magic.data(), magic.size(), "the magic");
  if (std::string_view(magic.data(), magic.size()) != "TERNCKPT") r.fail("not a tern checkpoint (bad magic)");
  const auto version = r.template pod<std::uint32_t>("the version");
  if (version != checkpoint_version)
    r.fail("version " + std::to_string(version) + " in the file, this build reads version " +
           std::to_string(checkpoint_version));
  const std::string tag = r.str("the model tag");
  if (tag != model_tag)
    r.fail("model tag mismatch: the file holds '" + tag + "' but the model is '" + std::string(model_tag) + "'");
  const auto scalar_bytes = r.template pod<std::uint32_t>("the scalar size");
  if (scalar_bytes != sizeof(T))
    r.fail("scalar type mismatch: the file stores " + std::to_string(8 * std::uint64_t(scalar_bytes)) +
           "-bit values, the model uses " + std::to_string(8 * sizeof(T)) + "-bit values");

  // The model's parameter list, for comparison.
  std::vector<std::string> names;
  std::vector<parameter<T>*> params;
  model.for_each_parameter([&](std::string_view name, parameter<T>& p) {
    names.emplace_back(name);
    params.push_back(&p);
  });
  const std::size_t count = names.size();

  // Tensors: name and shape checked against the model before anything is allocated.
  const auto n = r.template pod<std::uint64_t>("the tensor count");
  std::vector<matrix<T>> values;
  values.reserve(count);
  for (std::uint64_t i = 0; i < std::min<std::uint64_t>(n, count); ++i) {
    const std::string name = r.str("the name of tensor #" + std::to_string(i));
    if (name != names[i])
      r.fail("tensor #" + std::to_string(i) + " is '" + name + "' in the file but '" + names[i] + "' in the model");
    const matrix<T>& like = params[i]->value;
    r.shape("tensor '" + name + "'", like.rows(), like.cols());
    r.template need<T>(static_cast<std::size_t>(like.size()), "tensor '" + name + "'");
    matrix<T> value(like.rows(), like.cols());
    r.values(value.data(), static_cast<std::size_t>(value.size()), "tensor '" + name + "'");
    values.push_back(std::move(value));
  }
  if (n < count)
    r.fail("the file has " + std::to_string(n) + " tensors but the model has " + std::to_string(count) +
           "; first tensor missing from the file: '" + names[n] + "'");
  if (n > count) {
    std::string msg = "the file has " + std::to_string(n) + " tensors but the model has only " + std::to_string(count);
    try {
      msg += "; first extra tensor in the file: '" + r.str("the name of tensor #" + std::to_string(count)) + "'";
    } catch (const std::runtime_error&) {  // no readable name follows: the counts say enough
    }
    r.fail(msg);
  }
  // Gradients are zeroed on load; a gradient of the wrong shape gets a prepared zero matrix.
  std::vector<matrix<T>> grads(count);
  for (std::size_t i = 0; i < count; ++i)
    if (params[i]->grad.rows() != params[i]->value.rows() || params[i]->grad.cols() != params[i]->value.cols())
      grads[i] = matrix<T>::Zero(params[i]->value.rows(), params[i]->value.cols());

  // Optimizer state.
  const bool has_opt = r.flag("the optimizer flag");
  std::vector<typename adamw<T>::slot> slots;
  std::int64_t opt_steps = 0;
  if (has_opt) {
    opt_steps = r.template pod<std::int64_t>("the optimizer step count");
    if (opt_steps < 0) r.fail("negative optimizer step count " + std::to_string(opt_steps));
    const auto ns = r.template pod<std::uint64_t>("the optimizer slot count");
    if (ns != 0 && ns != count)
      r.fail("optimizer state has " + std::to_string(ns) + " slots but the model has " + std::to_string(count) +
             " tensors");
    if (count > 0 && (ns == 0) != (opt_steps == 0))
      r.fail("optimizer state has " + std::to_string(ns) + " slots at step " + std::to_string(opt_steps) +
             " (moments exist exactly after the first step)");
    if (opt) slots.reserve(static_cast<std::size_t>(ns));
    for (std::uint64_t i = 0; i < ns; ++i) {
      const std::string name = r.str("the name of optimizer slot #" + std::to_string(i));
      if (name != names[i])
        r.fail("optimizer slot #" + std::to_string(i) + " is '" + name + "' but model tensor #" + std::to_string(i) +
               " is '" + names[i] + "'");
      const matrix<T>& like = params[i]->value;
      r.shape("the optimizer moments of '" + name + "'", like.rows(), like.cols());
      const auto size = static_cast<std::size_t>(like.size());
      const std::string m_what = "the first moment of '" + name + "'", v_what = "the second moment of '" + name + "'";
      r.template need<T>(2 * size, "the optimizer moments of '" + name + "'");
      if (opt) {
        typename adamw<T>::slot s;
        s.name = name;
        s.m.resize(like.rows(), like.cols());
        s.v.resize(like.rows(), like.cols());
        r.values(s.m.data(), size, m_what);
        r.values(s.v.data(), size, v_what);
        if ((s.v.array() < T(0)).any()) r.fail(v_what + " has a negative value (corrupt file)");
        slots.push_back(std::move(s));
      } else {
        r.template skip_values<T>(size, m_what);
        r.template skip_values<T>(size, v_what);
      }
    }
  } else if (opt) {
    r.fail("the file has no optimizer state, but optimizer state was requested");
  }

  // Training state.
  const bool has_state = r.flag("the training-state flag");
  train_state st;
  if (has_state) {
    st.step = r.template pod<std::int64_t>("the training step");
    for (auto& word : st.rng_state) word = r.template pod<std::uint64_t>("the rng state");
    st.tokens = r.template pod<std::int64_t>("the token count");
    if (st.step < 0) r.fail("negative training step " + std::to_string(st.step));
    if (st.tokens < 0) r.fail("negative token count " + std::to_string(st.tokens));
    if (std::all_of(st.rng_state.begin(), st.rng_state.end(), [](std::uint64_t w) { return w == 0; }))
      r.fail("the rng state is all zero (not a valid xoshiro256** state; corrupt file)");
  } else if (state) {
    r.fail("the file has no training state, but training state was requested");
  }
  r.check_sum();
  r.end();

  // Everything is validated: commit with operations that cannot throw.
  [&]() noexcept {
    for (std::size_t i = 0; i < count; ++i) {
      params[i]->value.swap(values[i]);  // same shapes: a swap of the data pointers
      parameter<T>& p = *params[i];
      if (p.grad.rows() != p.value.rows() || p.grad.cols() != p.value.cols()) p.grad.swap(grads[i]);
      p.grad.setZero();
    }
    if (opt) opt->restore(std::move(slots), opt_steps);  // opt_steps >= 0: restore cannot throw
    if (state) *state = st;
  }();
}

}  // namespace detail

/// Saves `model` (tagged with `model_tag`), and optionally the optimizer and training state.
/// Throws std::invalid_argument if the state is not one load_checkpoint would accept (a
/// non-finite value, an optimizer of another model, a negative step), std::runtime_error if
/// a write, fsync, close or the final rename fails; `path` keeps its old content then.
template <Parameterized M>
void save_checkpoint(const std::string& path, M& model, std::string_view model_tag,
                     const adamw<typename M::scalar>* opt = nullptr, const train_state* state = nullptr) {
  using T = typename M::scalar;
  detail::check_saveable(path, model, model_tag, opt, state);
  detail::ckpt_writer w(path);
  w.raw("TERNCKPT", 8);
  w.pod(checkpoint_version);
  w.str(model_tag);
  w.pod(static_cast<std::uint32_t>(sizeof(T)));
  std::uint64_t n = 0;
  model.for_each_parameter([&](std::string_view, parameter<T>&) { ++n; });
  w.pod(n);
  model.for_each_parameter([&](std::string_view name, parameter<T>& p) {
    w.str(name);
    w.mat(p.value);
  });
  w.pod(static_cast<std::uint8_t>(opt != nullptr));
  if (opt) {
    w.pod(static_cast<std::int64_t>(opt->step_count()));
    w.pod(static_cast<std::uint64_t>(opt->slot_count()));
    opt->for_each_state([&](std::string_view name, const matrix<T>& m, const matrix<T>& v) {
      w.str(name);
      w.mat(m);
      w.raw(v.data(), sizeof(T) * static_cast<std::size_t>(v.size()));
    });
  }
  w.pod(static_cast<std::uint8_t>(state != nullptr));
  if (state) {
    w.pod(state->step);
    for (auto word : state->rng_state) w.pod(word);
    w.pod(state->tokens);
  }
  w.finish();
}

/// Loads a checkpoint written by save_checkpoint into `model` (and `opt`, `state` if given).
/// Throws std::runtime_error naming the file and the first failing check; nothing is
/// changed on failure. Asking for optimizer or training state that the file lacks is an
/// error too; state the file has but nobody asked for is validated and skipped.
template <Parameterized M>
void load_checkpoint(const std::string& path, M& model, std::string_view model_tag,
                     adamw<typename M::scalar>* opt = nullptr, train_state* state = nullptr) {
  detail::ckpt_file_source src(path);
  detail::load_checkpoint_from(src, path, model, model_tag, opt, state);
}

/// The same from bytes in memory; `origin` names them in error messages.
template <Parameterized M>
void load_checkpoint_bytes(std::span<const std::byte> bytes, const std::string& origin, M& model,
                           std::string_view model_tag, adamw<typename M::scalar>* opt = nullptr,
                           train_state* state = nullptr) {
  detail::ckpt_memory_source src(bytes);
  detail::load_checkpoint_from(src, origin, model, model_tag, opt, state);
}

}  // namespace tern
