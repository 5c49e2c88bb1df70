#pragma once
// Checkpoints: a model's parameters, the AdamW state (moments and step count) and the
// training state (step, data rng, tokens seen), so that a resumed run continues bit for bit.
//
// File layout (little-endian; integers fixed width, strings as u32 length + bytes):
//   "TERNCKPT"                      8-byte magic
//   u32 version                     checkpoint_version (1)
//   string model_tag                the caller's description of model type and config
//   u32 scalar_bytes                sizeof(T): 4 (float) or 8 (double)
//   u64 n_tensors, then per tensor: string name, i64 rows, i64 cols, rows*cols T (row-major)
//   u8 has_optimizer; if 1: i64 step_count, u64 n_slots, per slot: string name,
//                          i64 rows, i64 cols, m data, v data
//   u8 has_train_state; if 1: i64 step, 4 x u64 rng state, i64 tokens
//   "TEND"                          4-byte end marker (detects truncated files)
//
// Loading reads and validates the WHOLE file against the model before changing anything, and
// fails (std::runtime_error) with a message that names the file and the first mismatching
// field: the magic, the version, the model tag, the scalar type, the tensor count, or the
// first tensor whose name or shape differs. The model and optimizer are left untouched then.
// Saving writes `path + ".tmp"` and renames it over `path`, so a crash never leaves a torn file.
#include <array>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tern/optim/parameterized.hpp"
#include "tern/core/matrix.hpp"
#include "tern/core/parameter.hpp"
#include "tern/data/rng.hpp"
#include "tern/optim/adamw.hpp"

namespace tern {

inline constexpr std::uint32_t checkpoint_version = 1;

/// Where a training run is: what a resumed run needs beyond weights and optimizer.
struct train_state {
  std::int64_t step = 0;      ///< optimizer steps done
  rng::state_type rng_state{};  ///< the data sampler's generator (so batches continue in order)
  std::int64_t tokens = 0;    ///< training tokens consumed
};

namespace detail {

static_assert(std::endian::native == std::endian::little, "tern checkpoints assume a little-endian host");

class ckpt_writer {
 public:
  explicit ckpt_writer(const std::string& path) : path_(path), out_(path, std::ios::binary | std::ios::trunc) {
    if (!out_) throw std::runtime_error("checkpoint: cannot open '" + path + "' for writing");
  }
  template <class V>
  void pod(const V& v) { out_.write(reinterpret_cast<const char*>(&v), sizeof(V)); }
  void str(std::string_view s) {
    pod(static_cast<std::uint32_t>(s.size()));
    out_.write(s.data(), static_cast<std::streamsize>(s.size()));
  }
  void raw(const char* p, std::size_t n) { out_.write(p, static_cast<std::streamsize>(n)); }
  template <class T>
  void mat(const matrix<T>& m) {
    pod(static_cast<std::int64_t>(m.rows()));
    pod(static_cast<std::int64_t>(m.cols()));
    raw(reinterpret_cast<const char*>(m.data()), sizeof(T) * static_cast<std::size_t>(m.size()));
  }
  void close() {
    out_.close();
    if (!out_) throw std::runtime_error("checkpoint: write to '" + path_ + "' failed");
  }

 private:
  std::string path_;
  std::ofstream out_;
};

class ckpt_reader {
 public:
  explicit ckpt_reader(const std::string& path) : path_(path), in_(path, std::ios::binary) {
    if (!in_) throw std::runtime_error("checkpoint: cannot open '" + path + "'");
  }
  template <class V>
  V pod(const char* what) {
    V v{};
    in_.read(reinterpret_cast<char*>(&v), sizeof(V));
    if (!in_) fail(std::string("file ends early while reading ") + what + " (truncated?)");
    return v;
  }
  std::string str(const char* what) {
    const auto n = pod<std::uint32_t>(what);
    if (n > (1u << 20)) fail(std::string("implausible length ") + std::to_string(n) + " for " + what);
    std::string s(n, '\0');
    in_.read(s.data(), n);
    if (!in_) fail(std::string("file ends early while reading ") + what + " (truncated?)");
    return s;
  }
  template <class T>
  matrix<T> mat(const std::string& what) {
    const auto r = pod<std::int64_t>(what.c_str());
    const auto c = pod<std::int64_t>(what.c_str());
    if (r < 0 || c < 0 || (r > 0 && c > (std::int64_t(1) << 40) / r)) fail("implausible shape for " + what);
    matrix<T> m(r, c);
    in_.read(reinterpret_cast<char*>(m.data()), static_cast<std::streamsize>(sizeof(T) * static_cast<std::size_t>(m.size())));
    if (!in_) fail("file ends early while reading the data of " + what + " (truncated?)");
    return m;
  }
  [[noreturn]] void fail(const std::string& msg) const {
    throw std::runtime_error("load_checkpoint '" + path_ + "': " + msg);
  }

 private:
  std::string path_;
  std::ifstream in_;
};

inline std::string shape_of(index r, index c) { return std::to_string(r) + "x" + std::to_string(c); }

}  // namespace detail

/// Saves `model` (tagged with `model_tag`), and optionally the optimizer and training state.
template <Parameterized M>
void save_checkpoint(const std::string& path, M& model, std::string_view model_tag,
                     const adamw<typename M::scalar>* opt = nullptr, const train_state* state = nullptr) {
  using T = typename M::scalar;
  const std::string tmp = path + ".tmp";
  {
    detail::ckpt_writer w(tmp);
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
        w.raw(reinterpret_cast<const char*>(v.data()), sizeof(T) * static_cast<std::size_t>(v.size()));
      });
    }
    w.pod(static_cast<std::uint8_t>(state != nullptr));
    if (state) {
      w.pod(state->step);
      for (auto word : state->rng_state) w.pod(word);
      w.pod(state->tokens);
    }
    w.raw("TEND", 4);
    w.close();
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw std::runtime_error("checkpoint: cannot rename '" + tmp + "' to '" + path + "'");
}

/// Loads a checkpoint written by save_checkpoint into `model` (and `opt`, `state` if given).
/// Throws std::runtime_error naming the first mismatch; nothing is changed on failure.
/// Asking for optimizer or training state that the file lacks is an error too.
template <Parameterized M>
void load_checkpoint(const std::string& path, M& model, std::string_view model_tag,
                     adamw<typename M::scalar>* opt = nullptr, train_state* state = nullptr) {
  using T = typename M::scalar;
  detail::ckpt_reader r(path);
  std::array<char, 8> magic{};
  for (auto& ch : magic) ch = r.pod<char>("the magic");
  if (std::string_view(magic.data(), 8) != "TERNCKPT") r.fail("not a tern checkpoint (bad magic)");
  const auto version = r.pod<std::uint32_t>("the version");
  if (version != checkpoint_version)
    r.fail("version " + std::to_string(version) + " in the file, this build reads version " +
           std::to_string(checkpoint_version));
  const std::string tag = r.str("the model tag");
  if (tag != model_tag)
    r.fail("model tag mismatch: the file holds '" + tag + "' but the model is '" + std::string(model_tag) + "'");
  const auto scalar_bytes = r.pod<std::uint32_t>("the scalar size");
  if (scalar_bytes != sizeof(T))
    r.fail("scalar type mismatch: the file stores " + std::to_string(8 * scalar_bytes) + "-bit values, the model uses " +
           std::to_string(8 * sizeof(T)) + "-bit values");

  // The model's parameter list, for comparison.
  std::vector<std::string> names;
  std::vector<parameter<T>*> params;
  model.for_each_parameter([&](std::string_view name, parameter<T>& p) {
    names.emplace_back(name);
    params.push_back(&p);
  });
  const auto n = r.pod<std::uint64_t>("the tensor count");
  std::vector<matrix<T>> values;
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::string name = r.str("a tensor name");
    matrix<T> value = r.mat<T>("tensor '" + name + "'");
    if (i >= names.size())
      r.fail("the file has " + std::to_string(n) + " tensors but the model has only " + std::to_string(names.size()) +
             "; first extra tensor in the file: '" + name + "' " + detail::shape_of(value.rows(), value.cols()));
    const auto& p = *params[i];
    if (name != names[i])
      r.fail("tensor #" + std::to_string(i) + " is '" + name + "' in the file but '" + names[i] + "' in the model");
    if (value.rows() != p.value.rows() || value.cols() != p.value.cols())
      r.fail("tensor '" + name + "' is " + detail::shape_of(value.rows(), value.cols()) + " in the file but " +
             detail::shape_of(p.value.rows(), p.value.cols()) + " in the model");
    values.push_back(std::move(value));
  }
  if (n < names.size())
    r.fail("the file has " + std::to_string(n) + " tensors but the model has " + std::to_string(names.size()) +
           "; first tensor missing from the file: '" + names[n] + "'");

  const bool has_opt = r.pod<std::uint8_t>("the optimizer flag") != 0;
  std::vector<typename adamw<T>::slot> slots;
  std::int64_t opt_steps = 0;
  if (has_opt) {
    opt_steps = r.pod<std::int64_t>("the optimizer step count");
    const auto ns = r.pod<std::uint64_t>("the optimizer slot count");
    if (ns != 0 && ns != names.size())
      r.fail("optimizer state has " + std::to_string(ns) + " slots but the model has " + std::to_string(names.size()) + " tensors");
    for (std::uint64_t i = 0; i < ns; ++i) {
      typename adamw<T>::slot s;
      s.name = r.str("an optimizer slot name");
      s.m = r.mat<T>("the first moment of '" + s.name + "'");
      if (s.name != names[i])
        r.fail("optimizer slot #" + std::to_string(i) + " is '" + s.name + "' but model tensor #" + std::to_string(i) +
               " is '" + names[i] + "'");
      if (s.m.rows() != params[i]->value.rows() || s.m.cols() != params[i]->value.cols())
        r.fail("optimizer moment of '" + s.name + "' is " + detail::shape_of(s.m.rows(), s.m.cols()) +
               " but the model tensor is " + detail::shape_of(params[i]->value.rows(), params[i]->value.cols()));
      s.v.resize(s.m.rows(), s.m.cols());
      for (index k = 0; k < s.v.size(); ++k) s.v.data()[k] = r.pod<T>("a second moment");
      slots.push_back(std::move(s));
    }
  } else if (opt) {
    r.fail("the file has no optimizer state, but optimizer state was requested");
  }
  const bool has_state = r.pod<std::uint8_t>("the training-state flag") != 0;
  train_state st;
  if (has_state) {
    st.step = r.pod<std::int64_t>("the training step");
    for (auto& word : st.rng_state) word = r.pod<std::uint64_t>("the rng state");
    st.tokens = r.pod<std::int64_t>("the token count");
  } else if (state) {
    r.fail("the file has no training state, but training state was requested");
  }
  std::array<char, 4> end{};
  for (auto& ch : end) ch = r.pod<char>("the end marker");
  if (std::string_view(end.data(), 4) != "TEND") r.fail("bad end marker (corrupt file)");

  // Everything matched: commit.
  for (std::size_t i = 0; i < params.size(); ++i) {
    params[i]->value = std::move(values[i]);
    params[i]->zero_grad();
  }
  if (opt) opt->restore(std::move(slots), opt_steps);
  if (state) *state = st;
}

}  // namespace tern
