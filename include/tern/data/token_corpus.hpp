#pragma once
// Language-model data of any vocabulary: a sequence of token ids (int32), as a tokenizer
// produced them, with byte_corpus's interface (name, sizes, sample_train, validation_starts,
// validation_batch), so that training and evaluate_lm work with either.
//
// The ids are split once: the first (1 - validation_fraction) train, the rest validate (a
// contiguous tail). Training batches are `batch` windows of seq + 1 consecutive ids at
// uniformly random offsets drawn from the caller's tern::rng (the same draws as byte_corpus:
// a token_corpus of a file's bytes gives the same batches as its byte_corpus); inputs are the
// first seq ids of a window, targets the last seq.
//
// Errors (std::invalid_argument / std::runtime_error naming the corpus): an id outside
// [0, vocab), an empty corpus, a split shorter than one window of min_window ids, a bad
// validation fraction, windows that do not fit.
#include <cstdint>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tern/core/matrix.hpp"
#include "tern/data/byte_corpus.hpp"  // token_batch
#include "tern/data/rng.hpp"
#include "tern/tokenizer/tokenizer.hpp"

namespace tern {

class token_corpus {
 public:
  /// ids: every token of the text; vocab: the model's vocabulary size (ids must be below it);
  /// name: used in messages; min_window: the longest window (seq + 1) the caller will ask for.
  token_corpus(std::vector<std::int32_t> ids, index vocab, std::string name, double validation_fraction = 0.1,
               index min_window = 2)
      : ids_(std::move(ids)), vocab_(vocab), name_(std::move(name)) {
    if (vocab <= 0) throw std::invalid_argument("token_corpus: vocab must be positive, got " + std::to_string(vocab));
    if (!(validation_fraction > 0 && validation_fraction < 1))
      throw std::invalid_argument("token_corpus: validation_fraction must be in (0, 1), got " +
                                  std::to_string(validation_fraction));
    if (min_window < 2) throw std::invalid_argument("token_corpus: min_window must be >= 2");
    for (std::size_t i = 0; i < ids_.size(); ++i)
      if (ids_[i] < 0 || ids_[i] >= vocab)
        throw std::invalid_argument("token_corpus: corpus " + name_ + ": token " + std::to_string(ids_[i]) +
                                    " at position " + std::to_string(i) + " is outside the vocabulary [0, " +
                                    std::to_string(vocab) + ")");
    const auto n = static_cast<index>(ids_.size());
    if (n == 0) throw std::runtime_error("token_corpus: corpus " + name_ + " is empty (0 tokens)");
    split_ = n - static_cast<index>(static_cast<double>(n) * validation_fraction);
    const index val = n - split_;
    if (split_ < min_window || val < min_window)
      throw std::runtime_error("token_corpus: corpus " + name_ + " is too short: " + std::to_string(n) + " tokens give " +
                               std::to_string(split_) + " training and " + std::to_string(val) +
                               " validation tokens, but each split needs at least one window of " +
                               std::to_string(min_window) + " tokens (sequence length + 1)");
  }

  /// Tokenizes the whole of `path` with `tok` (a Tokenizer); vocab defaults to tok.vocab_size().
  template <Tokenizer Tok>
  static token_corpus from_file(const std::string& path, const Tok& tok, double validation_fraction = 0.1,
                                index min_window = 2, index vocab = 0) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("token_corpus: cannot open corpus file '" + path + "'");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) throw std::runtime_error("token_corpus: error while reading '" + path + "'");
    return token_corpus(tok.encode(text), vocab > 0 ? vocab : index(tok.vocab_size()), "'" + path + "'",
                        validation_fraction, min_window);
  }

  const std::string& name() const { return name_; }
  index vocab() const { return vocab_; }
  index size() const { return static_cast<index>(ids_.size()); }
  index train_size() const { return split_; }
  index validation_size() const { return size() - split_; }
  const std::int32_t* train_data() const { return ids_.data(); }
  const std::int32_t* validation_data() const { return ids_.data() + split_; }

  /// `batch` random training windows of seq + 1 ids.
  token_batch sample_train(index batch, index seq, rng& r) const {
    check_window("sample_train", seq, train_size());
    token_batch out = empty_batch(batch, seq);
    const auto starts = static_cast<std::uint64_t>(train_size() - seq);  // valid starts: [0, n - seq - 1]
    for (index b = 0; b < batch; ++b) fill(out, b, train_data() + r.below(starts));
    return out;
  }

  /// Up to max_windows non-overlapping validation windows, evenly spread (all if max_windows <= 0).
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
      if (starts[std::size_t(b)] < 0 || starts[std::size_t(b)] + seq + 1 > validation_size())
        throw std::invalid_argument("token_corpus::validation_batch: window start " + std::to_string(starts[std::size_t(b)]) +
                                    " out of range for " + std::to_string(validation_size()) + " validation tokens");
      fill(out, b, validation_data() + starts[std::size_t(b)]);
    }
    return out;
  }

 private:
  void check_window(const char* where, index seq, index split_tokens) const {
    if (seq < 1) throw std::invalid_argument(std::string("token_corpus::") + where + ": seq must be >= 1");
    if (seq + 1 > split_tokens)
      throw std::invalid_argument(std::string("token_corpus::") + where + ": a window of " + std::to_string(seq + 1) +
                                  " tokens does not fit in the " + std::to_string(split_tokens) + "-token split of " + name_);
  }
  static token_batch empty_batch(index batch, index seq) {
    if (batch < 1) throw std::invalid_argument("token_corpus: batch must be >= 1");
    token_batch out;
    out.batch = batch;
    out.seq = seq;
    out.inputs.resize(static_cast<std::size_t>(batch * seq));
    out.targets.resize(static_cast<std::size_t>(batch * seq));
    return out;
  }
  static void fill(token_batch& out, index b, const std::int32_t* w) {
    for (index s = 0; s < out.seq; ++s) {
      out.inputs[static_cast<std::size_t>(b * out.seq + s)] = w[s];
      out.targets[static_cast<std::size_t>(b * out.seq + s)] = w[s + 1];
    }
  }

  std::vector<std::int32_t> ids_;
  index vocab_ = 0;
  std::string name_;
  index split_ = 0;
};

}  // namespace tern
