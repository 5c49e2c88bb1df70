#pragma once
// Training a small byte-level BPE vocabulary on a text, written as a GPT-2 style
// tokenizer.json (ByteLevel pre-tokenizer with the GPT-2 regex, ByteLevel decoder, BPE model):
// what tern_finetune --make-tiny-checkpoint ships with its random model, and a test input for
// the tokenizer.json reader that every implementation must agree on.
//
//   1. split the text with the GPT-2 regex, map each piece to the byte alphabet, count pieces;
//   2. start from the 256 byte symbols (ids 0..255 in byte order);
//   3. `merges` times: merge the adjacent pair with the highest count over all pieces
//      (ties: the pair whose merged string sorts first), giving the next id;
//   4. special tokens follow as added tokens (special: true).
// Deterministic: the same text and settings give the same file.
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "tern/hf/bpe_tokenizer.hpp"
#include "tern/hf/pcre2_regex.hpp"

namespace tern::hf {

inline nlohmann::json train_byte_level_bpe(std::string_view text, int merges, const std::vector<std::string>& special_tokens = {}) {
  using nlohmann::json;
  const auto bad = detail::invalid_utf8_at(text);
  if (bad != std::string_view::npos)
    throw std::invalid_argument("train_byte_level_bpe: the text is not valid UTF-8 at byte " + std::to_string(bad));
  const auto& alpha = detail::byte_alphabet::get();
  std::vector<std::string> symbols(256);
  for (int b = 0; b < 256; ++b) symbols[std::size_t(b)] = alpha.encode[std::size_t(b)];
  const pcre2_regex re(R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)");
  std::map<std::string, long long> counts;
  std::size_t at = 0;
  const std::string owned(text);
  for (const auto& [b, e] : re.matches(owned)) {
    if (b > at) ++counts[owned.substr(at, b - at)];
    ++counts[owned.substr(b, e - b)];
    at = e;
  }
  if (at < owned.size()) ++counts[owned.substr(at)];
  std::vector<std::vector<int>> words;
  std::vector<long long> freq;
  for (const auto& [w, c] : counts) {
    std::vector<int> ids;
    for (char ch : w) ids.push_back(static_cast<unsigned char>(ch));
    words.push_back(std::move(ids));
    freq.push_back(c);
  }
  json merge_list = json::array();
  for (int m = 0; m < merges; ++m) {
    std::map<std::pair<int, int>, long long> pairs;
    for (std::size_t w = 0; w < words.size(); ++w)
      for (std::size_t i = 0; i + 1 < words[w].size(); ++i) pairs[{words[w][i], words[w][i + 1]}] += freq[w];
    if (pairs.empty()) break;
    auto best = pairs.begin();
    for (auto it = pairs.begin(); it != pairs.end(); ++it) {
      if (it->second > best->second) best = it;
      else if (it->second == best->second &&
               symbols[std::size_t(it->first.first)] + symbols[std::size_t(it->first.second)] <
                   symbols[std::size_t(best->first.first)] + symbols[std::size_t(best->first.second)])
        best = it;
    }
    const auto [a, b] = best->first;
    const std::string merged = symbols[std::size_t(a)] + symbols[std::size_t(b)];
    // a merged string already in the vocabulary (two pairs spelling it) keeps its first id
    int id = -1;
    for (std::size_t s = 0; s < symbols.size(); ++s)
      if (symbols[s] == merged) id = int(s);
    if (id < 0) {
      id = int(symbols.size());
      symbols.push_back(merged);
    }
    merge_list.push_back(symbols[std::size_t(a)] + " " + symbols[std::size_t(b)]);
    for (auto& w : words) {
      std::vector<int> out;
      for (std::size_t i = 0; i < w.size(); ++i) {
        if (i + 1 < w.size() && w[i] == a && w[i + 1] == b) {
          out.push_back(id);
          ++i;
        } else {
          out.push_back(w[i]);
        }
      }
      w = std::move(out);
    }
  }
  json vocab = json::object();
  for (std::size_t s = 0; s < symbols.size(); ++s) vocab[symbols[s]] = s;
  json added = json::array();
  for (std::size_t k = 0; k < special_tokens.size(); ++k)
    added.push_back({{"id", symbols.size() + k}, {"content", special_tokens[k]}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", true}});
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", added},
          {"normalizer", nullptr},
          {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
          {"post_processor", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", true}}},
          {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
          {"model",
           {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
            {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false}, {"ignore_merges", false},
            {"vocab", vocab}, {"merges", merge_list}}}};
}

}  // namespace tern::hf
