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
// that cannot be opened, a path that is not a regular file (a directory, FIFO or device is
// refused at once, never opened blocking: io/regular_file.hpp), an empty file, and a file too
// short for one window of seq + 1 bytes in each split.
//
// Bounds on the caller's numbers, checked before any arithmetic that could overflow:
//   seq >= 1 and seq + 1 <= the split's size (so seq + 1 and every start + seq + 1 fit);
//   batch >= 1 and batch * seq <= max_batch_tokens (2^28): a token_batch holds 8 bytes per
//   token (inputs and targets), so this is 2 GiB, and one training step over it needs several
//   times that again for the model's activations; larger requests are refused, not attempted;
//   validation_batch: every start in [0, validation_size - seq - 1].
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "tern/core/matrix.hpp"
#include "tern/data/rng.hpp"
#include "tern/io/regular_file.hpp"

namespace tern {

/// A batch of token windows, row-major: token (b, s) is at [b * seq + s].
struct token_batch {
  index batch = 0, seq = 0;
  std::vector<std::int32_t> inputs, targets;
};

class byte_corpus {
 public:
  static constexpr int vocab = 256;
  /// Most tokens (batch x seq) one batch may hold (see the file comment).
  static constexpr index max_batch_tokens = index(1) << 28;

  /// Reads `path` whole. min_window: the longest window (seq + 1) the caller will ask for;
  /// each split must hold at least that many bytes.
  static byte_corpus from_file(const std::string& path, double validation_fraction = 0.1,
                               index min_window = 2) {
    regular_file in(path, "byte_corpus: corpus file");
    return byte_corpus(in.read_rest(), "'" + path + "'", validation_fraction, min_window);
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
  /// spread over the validation split (all of them if max_windows <= 0): window i of count
  /// starts at floor(i * available / count) * seq, available = (validation_size - 1) / seq.
  std::vector<index> validation_starts(index seq, index max_windows) const {
    check_window("validation_starts", seq, validation_size());
    const index available = (validation_size() - 1) / seq;
    const index count = max_windows > 0 && max_windows < available ? max_windows : available;
    std::vector<index> starts;
    starts.reserve(static_cast<std::size_t>(count));
    // floor(i * a / c) = i * (a / c) + floor(i * (a % c) / c), the second term carried
    // incrementally, so no product exceeds a (i * a itself may overflow for large splits).
    const index q = available / count, rem = available % count;
    index extra = 0, carry = 0;
    for (index i = 0; i < count; ++i) {
      starts.push_back((i * q + extra) * seq);
      carry += rem;
      while (carry >= count) {
        carry -= count;
        ++extra;
      }
    }
    return starts;
  }

  /// The validation windows at `starts` (from validation_starts) as a batch.
  token_batch validation_batch(const std::vector<index>& starts, index seq) const {
    check_window("validation_batch", seq, validation_size());
    token_batch out = empty_batch(static_cast<index>(starts.size()), seq);
    for (index b = 0; b < out.batch; ++b) {
      if (starts[b] < 0 || starts[b] > validation_size() - seq - 1)  // seq + 1 <= validation_size()
        throw std::invalid_argument("byte_corpus::validation_batch: window start " + std::to_string(starts[b]) +
                                    " out of range for " + std::to_string(validation_size()) + " validation bytes");
      fill(out, b, validation_data() + starts[b]);
    }
    return out;
  }

 private:
  void check_window(const char* where, index seq, index split_bytes) const {
    if (seq < 1) throw std::invalid_argument(std::string("byte_corpus::") + where + ": seq must be >= 1");
    if (seq >= split_bytes)  // seq + 1 > split_bytes, without computing seq + 1
      throw std::invalid_argument(std::string("byte_corpus::") + where + ": a window of seq + 1 = " +
                                  std::to_string(seq) + " + 1 bytes does not fit in the " + std::to_string(split_bytes) +
                                  "-byte split of " + name_);
  }
  static token_batch empty_batch(index batch, index seq) {
    if (batch < 1) throw std::invalid_argument("byte_corpus: batch must be >= 1, got " + std::to_string(batch));
    if (batch > max_batch_tokens / seq)  // seq >= 1 (check_window)
      throw std::invalid_argument("byte_corpus: batch x seq = " + std::to_string(batch) + " x " + std::to_string(seq) +
                                  " tokens exceeds max_batch_tokens = " + std::to_string(max_batch_tokens) +
                                  " (8 bytes per token: 2 GiB)");
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
