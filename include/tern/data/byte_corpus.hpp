#pragma once
// Byte-level language-model data: every byte of a file is a token (vocabulary 256).
//
// The text is split once: the first (1 - validation_fraction) of the bytes train, the rest
// validate (a contiguous tail, so no training window overlaps a validation window).
// Training batches are `batch` windows of `seq + 1` consecutive bytes at uniformly random
// offsets drawn from a tern::rng; inputs are the first seq bytes, targets the last seq (the
// next byte at every position). The rng is the caller's, so its state (and thus the data
// position) is part of what a checkpoint saves.
//
// Errors (std::runtime_error / std::invalid_argument, naming the path and the sizes): a file
// that cannot be opened, an empty file, and a file too short for one window of seq + 1 bytes
// in each split.
#include <cstdint>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "tern/core/matrix.hpp"
#include "tern/data/rng.hpp"

namespace tern {

/// A batch of token windows, row-major: token (b, s) is at [b * seq + s].
struct token_batch {
  index batch = 0, seq = 0;
  std::vector<std::int32_t> inputs, targets;
};

class byte_corpus {
 public:
  static constexpr int vocab = 256;

  /// Reads `path` whole. min_window: the longest window (seq + 1) the caller will ask for;
  /// each split must hold at least that many bytes.
  static byte_corpus from_file(const std::string& path, double validation_fraction = 0.1,
                               index min_window = 2) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("byte_corpus: cannot open corpus file '" + path + "'");
    std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) throw std::runtime_error("byte_corpus: error while reading '" + path + "'");
    return byte_corpus(std::move(bytes), "'" + path + "'", validation_fraction, min_window);
  }

  /// From bytes in memory; `name` is used in error messages and reports.
  byte_corpus(std::vector<std::uint8_t> bytes, std::string name, double validation_fraction = 0.1,
              index min_window = 2)
      : bytes_(std::move(bytes)), name_(std::move(name)) {
    if (!(validation_fraction > 0 && validation_fraction < 1))
      throw std::invalid_argument("byte_corpus: validation_fraction must be in (0, 1), got " +
                                  std::to_string(validation_fraction));
    if (min_window < 2) throw std::invalid_argument("byte_corpus: min_window must be >= 2");
    const auto n = static_cast<index>(bytes_.size());
    if (n == 0) throw std::runtime_error("byte_corpus: corpus " + name_ + " is empty (0 bytes)");
    split_ = n - static_cast<index>(static_cast<double>(n) * validation_fraction);
    const index val = n - split_;
    if (split_ < min_window || val < min_window)
      throw std::runtime_error("byte_corpus: corpus " + name_ + " is too short: " + std::to_string(n) +
                               " bytes give " + std::to_string(split_) + " training and " + std::to_string(val) +
                               " validation bytes, but each split needs at least one window of " +
                               std::to_string(min_window) + " bytes (sequence length + 1)");
  }

  const std::string& name() const { return name_; }
  index size() const { return static_cast<index>(bytes_.size()); }
  index train_size() const { return split_; }
  index validation_size() const { return size() - split_; }
  const std::uint8_t* train_data() const { return bytes_.data(); }
  const std::uint8_t* validation_data() const { return bytes_.data() + split_; }

  /// `batch` random training windows of seq + 1 bytes.
  token_batch sample_train(index batch, index seq, rng& r) const {
    check_window("sample_train", seq, train_size());
    token_batch out = empty_batch(batch, seq);
    const auto starts = static_cast<std::uint64_t>(train_size() - seq);  // valid starts: [0, n - seq - 1]
    for (index b = 0; b < batch; ++b) fill(out, b, train_data() + r.below(starts));
    return out;
  }

  /// Deterministic validation windows: up to max_windows non-overlapping windows, evenly
  /// spread over the validation split (all of them if max_windows <= 0).
  std::vector<index> validation_starts(index seq, index max_windows) const {
    check_window("validation_starts", seq, validation_size());
    const index available = (validation_size() - 1) / seq;
    const index count = max_windows > 0 && max_windows < available ? max_windows : available;
    std::vector<index> starts;
    for (index i = 0; i < count; ++i) starts.push_back((i * available / count) * seq);
    return starts;
  }

  /// The validation windows at `starts` (from validation_starts) as a batch.
  token_batch validation_batch(const std::vector<index>& starts, index seq) const {
    check_window("validation_batch", seq, validation_size());
    token_batch out = empty_batch(static_cast<index>(starts.size()), seq);
    for (index b = 0; b < out.batch; ++b) {
      if (starts[b] < 0 || starts[b] + seq + 1 > validation_size())
        throw std::invalid_argument("byte_corpus::validation_batch: window start " + std::to_string(starts[b]) +
                                    " out of range for " + std::to_string(validation_size()) + " validation bytes");
      fill(out, b, validation_data() + starts[b]);
    }
    return out;
  }

 private:
  void check_window(const char* where, index seq, index split_bytes) const {
    if (seq < 1) throw std::invalid_argument(std::string("byte_corpus::") + where + ": seq must be >= 1");
    if (seq + 1 > split_bytes)
      throw std::invalid_argument(std::string("byte_corpus::") + where + ": a window of " + std::to_string(seq + 1) +
                                  " bytes does not fit in the " + std::to_string(split_bytes) + "-byte split of " + name_);
  }
  static token_batch empty_batch(index batch, index seq) {
    if (batch < 1) throw std::invalid_argument("byte_corpus: batch must be >= 1");
    token_batch out;
    out.batch = batch;
    out.seq = seq;
    out.inputs.resize(static_cast<std::size_t>(batch * seq));
    out.targets.resize(static_cast<std::size_t>(batch * seq));
    return out;
  }
  static void fill(token_batch& out, index b, const std::uint8_t* w) {
    for (index s = 0; s < out.seq; ++s) {
      out.inputs[static_cast<std::size_t>(b * out.seq + s)] = w[s];
      out.targets[static_cast<std::size_t>(b * out.seq + s)] = w[s + 1];
    }
  }

  std::vector<std::uint8_t> bytes_;
  std::string name_;
  index split_ = 0;
};

}  // namespace tern
