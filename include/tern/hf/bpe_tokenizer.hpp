#pragma once
// Byte-level BPE from a Hugging Face tokenizer.json (GPT-2, Llama 3, SmolLM, Qwen style).
//
// encode(text), text valid UTF-8 (else std::invalid_argument naming the byte offset):
//   1. added tokens ("added_tokens", special or not) are cut out first, leftmost-longest
//      match; lstrip / rstrip tokens also take the whitespace beside them;
//   2. every other segment goes through the pre-tokenizer: Split (a PCRE2 regex or a literal;
//      behaviours Isolated, Removed, MergedWithPrevious, MergedWithNext) and ByteLevel
//      (optional prefix space, optional GPT-2 regex, then bytes -> the GPT-2 byte alphabet:
//      printable bytes stand for themselves, the others for U+0100 upwards), in a Sequence;
//   3. the BPE model splits each piece into alphabet symbols and applies the merges, lowest
//      rank first (ignore_merges: a piece that is itself in the vocabulary is one token).
// decode(ids): added tokens give their content; runs of other tokens are joined and mapped
// back through the byte alphabet (the ByteLevel decoder). decode(encode(s)) == s.
// No special tokens are added by encode (the post_processor is not applied); bos_id / eos_id
// come from the caller (hf::load_tokenizer reads them from tokenizer_config.json).
//
// Anything the file holds that this does not implement is a std::runtime_error naming the file
// and the field when it is loaded: normalizers, other pre-tokenizers and decoders,
// byte_fallback, continuing_subword_prefix / end_of_word_suffix, BPE dropout, single_word
// added tokens, merges of tokens that are not in the vocabulary.
#include <algorithm>
#include <array>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "tern/hf/pcre2_regex.hpp"
#include "tern/tokenizer/tokenizer.hpp"

namespace tern::hf {

namespace detail {

/// Appends the UTF-8 encoding of code point cp.
inline void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) out += char(cp);
  else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

/// Byte offset of the first invalid UTF-8 sequence in s, or npos (overlongs, surrogates and
/// code points past U+10FFFF are invalid).
inline std::size_t invalid_utf8_at(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0, min = 0;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xE0) == 0xC0) { n = 1; cp = c & 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { n = 2; cp = c & 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { n = 3; cp = c & 0x07; min = 0x10000; }
    else return i;
    for (std::size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return i;
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (d & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += n + 1;
  }
  return std::string_view::npos;
}

/// Splits valid UTF-8 into its code points' byte strings.
inline std::vector<std::string_view> utf8_chars(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t j = i + 1;
    while (j < s.size() && (static_cast<unsigned char>(s[j]) & 0xC0) == 0x80) ++j;
    out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

/// GPT-2's byte <-> unicode alphabet: bytes '!'..'~', 0xA1..0xAC, 0xAE..0xFF stand for the same
/// code point; the other 68 bytes, in order, for U+0100, U+0101, ...
struct byte_alphabet {
  std::array<std::string, 256> encode;            // byte -> UTF-8 of its symbol
  std::unordered_map<std::uint32_t, std::uint8_t> decode;  // symbol code point -> byte
  byte_alphabet() {
    std::uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool self = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const std::uint32_t cp = self ? std::uint32_t(b) : next++;
      append_utf8(encode[std::size_t(b)], cp);
      decode.emplace(cp, std::uint8_t(b));
    }
  }
  static const byte_alphabet& get() {
    static const byte_alphabet a;
    return a;
  }
};

/// The code point of one UTF-8 character.
inline std::uint32_t code_point(std::string_view ch) {
  const auto c = static_cast<unsigned char>(ch[0]);
  if (c < 0x80) return c;
  const int n = (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : 3;
  std::uint32_t cp = c & (n == 1 ? 0x1F : n == 2 ? 0x0F : 0x07);
  for (int k = 1; k <= n && std::size_t(k) < ch.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(ch[std::size_t(k)]) & 0x3F);
  return cp;
}

inline bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

}  // namespace detail

class bpe_tokenizer {
 public:
  /// Reads and validates a tokenizer.json file.
  static bpe_tokenizer from_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("tokenizer '" + path + "': cannot open the file");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return from_json(text, path);
  }

  /// Parses tokenizer.json text; `name` stands for the file in messages.
  static bpe_tokenizer from_json(std::string_view text, const std::string& name) {
    bpe_tokenizer t;
    t.name_ = name;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text.begin(), text.end());
    } catch (const nlohmann::json::exception& e) {
      t.fail(std::string("not valid JSON: ") + e.what());
    }
    if (!j.is_object()) t.fail("not a JSON object");
    t.load(j);
    return t;
  }

  const std::string& name() const { return name_; }
  index vocab_size() const { return index(id_to_token_.size()); }
  token bos_id() const { return bos_; }
  token eos_id() const { return eos_; }
  void set_bos_id(token id) { bos_ = checked_id(id, "bos"); }
  void set_eos_id(token id) { eos_ = checked_id(id, "eos"); }

  /// The id of a token string (vocabulary or added token), or -1.
  token token_to_id(std::string_view s) const {
    const auto it = vocab_.find(std::string(s));
    if (it != vocab_.end()) return it->second;
    for (const auto& a : added_)
      if (a.content == s) return a.id;
    return -1;
  }
  /// The token string of an id ("" for ids that name nothing).
  const std::string& id_to_token(token id) const { return id_to_token_.at(std::size_t(checked_id(id, "id_to_token"))); }

  std::vector<token> encode(std::string_view text) const {
    const std::size_t bad = detail::invalid_utf8_at(text);
    if (bad != std::string_view::npos)
      throw std::invalid_argument("tokenizer '" + name_ + "': the text is not valid UTF-8 at byte " + std::to_string(bad));
    std::vector<token> out;
    std::size_t at = 0;
    std::vector<std::size_t> next(added_.size(), 0);  // each added token's next occurrence at or after `at`
    for (std::size_t k = 0; k < added_.size(); ++k) next[k] = text.find(added_[k].content);
    while (at < text.size()) {
      const auto m = next_added(text, at, next);
      const std::size_t seg_end = m ? m->begin : text.size();
      if (seg_end > at) encode_segment(text.substr(at, seg_end - at), out);
      if (!m) break;
      out.push_back(m->id);
      at = m->end;
    }
    return out;
  }

  std::string decode(std::span<const token> ids) const {
    std::string out, run;
    const auto& alpha = detail::byte_alphabet::get();
    auto flush = [&] {
      for (auto ch : detail::utf8_chars(run)) {
        const auto it = alpha.decode.find(detail::code_point(ch));
        if (it != alpha.decode.end()) out += char(it->second);
        else out.append(ch);  // not a byte symbol: kept as text
      }
      run.clear();
    };
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const token id = ids[i];
      if (id < 0 || std::size_t(id) >= id_to_token_.size() || !known_[std::size_t(id)])
        throw std::out_of_range("tokenizer '" + name_ + "': decode: id " + std::to_string(id) + " at position " +
                                std::to_string(i) + " is not in the vocabulary");
      if (is_added_[std::size_t(id)]) {
        flush();
        out += id_to_token_[std::size_t(id)];
      } else {
        run += id_to_token_[std::size_t(id)];
      }
    }
    flush();
    return out;
  }

 private:
  struct added_token {
    std::string content;
    token id = 0;
    bool lstrip = false, rstrip = false;
  };
  struct added_match {
    std::size_t begin, end;  // the bytes the token consumes (with stripped whitespace)
    token id;
  };
  enum class split_behavior { isolated, removed, merged_with_previous, merged_with_next };
  struct pre_step {
    enum kind_t { split, byte_level } kind = split;
    std::shared_ptr<pcre2_regex> regex;  // split with a regex (or byte_level's GPT-2 regex)
    std::string literal;                 // split with a string
    split_behavior behavior = split_behavior::isolated;
    bool add_prefix_space = false;
  };

  [[noreturn]] void fail(const std::string& msg) const { throw std::runtime_error("tokenizer '" + name_ + "': " + msg); }
  /// A token id as tokenizer.json may give it: an integer in [0, 2^30] (a value past int64 reads
  /// as negative and is refused too).
  static bool valid_id(const nlohmann::json& id) {
    return id.is_number_integer() && id.get<std::int64_t>() >= 0 && id.get<std::int64_t>() <= (1 << 30);
  }

  token checked_id(token id, const char* what) const {
    if (id < 0 || std::size_t(id) >= id_to_token_.size())
      throw std::out_of_range("tokenizer '" + name_ + "': " + what + " id " + std::to_string(id) + " is outside the vocabulary");
    return id;
  }

  static const std::string& gpt2_pattern() {
    static const std::string p = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
    return p;
  }

  void load_pre_tokenizer(const nlohmann::json& p) {
    if (p.is_null()) return;
    const std::string type = p.value("type", "");
    if (type == "Sequence") {
      if (!p.contains("pretokenizers") || !p["pretokenizers"].is_array()) fail("pre_tokenizer: Sequence without pretokenizers");
      for (const auto& q : p["pretokenizers"]) load_pre_tokenizer(q);
    } else if (type == "Split") {
      pre_step s;
      s.kind = pre_step::split;
      const auto& pat = p.at("pattern");
      if (pat.contains("Regex")) s.regex = std::make_shared<pcre2_regex>(pat["Regex"].get<std::string>());
      else if (pat.contains("String")) s.literal = pat["String"].get<std::string>();
      else fail("pre_tokenizer: Split.pattern needs Regex or String");
      if (!s.regex && s.literal.empty()) fail("pre_tokenizer: Split.pattern String is empty");
      const std::string b = p.value("behavior", "Isolated");
      if (b == "Isolated") s.behavior = split_behavior::isolated;
      else if (b == "Removed") s.behavior = split_behavior::removed;
      else if (b == "MergedWithPrevious") s.behavior = split_behavior::merged_with_previous;
      else if (b == "MergedWithNext") s.behavior = split_behavior::merged_with_next;
      else fail("pre_tokenizer: Split.behavior \"" + b + "\" is not supported");
      if (p.value("invert", false)) fail("pre_tokenizer: Split.invert = true is not supported");
      steps_.push_back(std::move(s));
    } else if (type == "ByteLevel") {
      pre_step s;
      s.kind = pre_step::byte_level;
      s.add_prefix_space = p.value("add_prefix_space", false);
      if (p.value("use_regex", true)) s.regex = std::make_shared<pcre2_regex>(gpt2_pattern());
      steps_.push_back(std::move(s));
      byte_level_ = true;
    } else {
      fail("pre_tokenizer: type \"" + type + "\" is not supported (Sequence, Split, ByteLevel are)");
    }
  }

  void check_decoder(const nlohmann::json& d) {
    if (d.is_null()) fail("decoder: missing (a byte-level tokenizer needs the ByteLevel decoder)");
    const std::string type = d.value("type", "");
    if (type == "Sequence") {
      for (const auto& q : d.at("decoders")) check_decoder(q);
    } else if (type != "ByteLevel") {
      fail("decoder: type \"" + type + "\" is not supported (ByteLevel is)");
    }
  }

  void load(const nlohmann::json& j) {
    using nlohmann::json;
    try {
      load_checked(j);
    } catch (const nlohmann::json::exception& e) {
      fail(std::string("unexpected structure: ") + e.what());
    } catch (const std::runtime_error& e) {  // a regex error: name the file too
      const std::string what = e.what();
      if (what.rfind("tokenizer '", 0) == 0) throw;
      fail("pre_tokenizer: " + what);
    }
    // tokenizer_config.json may override these (hf::load_tokenizer).
    bos_ = token_to_id("<|begin_of_text|>");
    eos_ = token_to_id("<|end_of_text|>");
    if (eos_ < 0) eos_ = token_to_id("<|endoftext|>");
  }

  void load_checked(const nlohmann::json& j) {
    using nlohmann::json;
    {
      if (j.contains("normalizer") && !j["normalizer"].is_null())
        fail("normalizer: " + j["normalizer"].value("type", std::string("?")) + " is not supported (only null)");
      load_pre_tokenizer(j.value("pre_tokenizer", json()));
      if (!byte_level_) fail("pre_tokenizer: no ByteLevel step (only byte-level BPE is supported)");
      check_decoder(j.value("decoder", json()));
      const auto& m = j.at("model");
      if (m.value("type", std::string()) != "BPE") fail("model.type: \"" + m.value("type", std::string()) + "\" is not BPE");
      if (m.value("byte_fallback", false)) fail("model.byte_fallback: true is not supported");
      for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"})
        if (m.contains(k) && !m[k].is_null() && m[k] != "") fail(std::string("model.") + k + ": " + m[k].dump() + " is not supported");
      if (m.contains("dropout") && !m["dropout"].is_null() && m["dropout"].get<double>() != 0.0)
        fail("model.dropout: BPE dropout is not supported");
      ignore_merges_ = m.value("ignore_merges", false);
      const auto& v = m.at("vocab");
      if (!v.is_object()) fail("model.vocab: not an object of token -> id");
      token max_id = -1;
      for (const auto& [tok, id] : v.items()) {
        if (!valid_id(id))
          fail("model.vocab: token " + json(tok).dump() + " has an invalid id " + id.dump());
        vocab_.emplace(tok, token(id.get<std::int64_t>()));
        max_id = std::max(max_id, token(id.get<std::int64_t>()));
      }
      if (m.contains("unk_token") && !m["unk_token"].is_null()) {
        const auto it = vocab_.find(m["unk_token"].get<std::string>());
        if (it == vocab_.end()) fail("model.unk_token: " + m["unk_token"].dump() + " is not in the vocabulary");
        unk_ = it->second;
      }
      if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
        for (const auto& a : j["added_tokens"]) {
          added_token t;
          t.content = a.at("content").get<std::string>();
          const auto& id = a.at("id");
          if (!valid_id(id) || t.content.empty())
            fail("added_tokens: invalid entry " + a.dump());
          t.id = token(id.get<std::int64_t>());
          t.lstrip = a.value("lstrip", false);
          t.rstrip = a.value("rstrip", false);
          if (a.value("single_word", false)) fail("added_tokens: \"" + t.content + "\": single_word = true is not supported");
          max_id = std::max(max_id, t.id);
          added_.push_back(std::move(t));
        }
      }
      // Ids index tables of max_id + 1 entries (here and in a model's embedding): a sparse id set
      // would make a few bytes of JSON allocate gigabytes. Real vocabularies are dense; at most
      // half of the ids below max_id may be unused.
      const std::size_t entries = vocab_.size() + added_.size();
      if (max_id >= 0 && std::size_t(max_id) + 1 > 2 * entries + 1024)
        fail("model.vocab / added_tokens: ids reach " + std::to_string(max_id) + " but only " +
             std::to_string(entries) + " tokens are given (at most half the ids may be unused)");
      id_to_token_.assign(std::size_t(max_id + 1), std::string());
      known_.assign(id_to_token_.size(), false);
      is_added_.assign(id_to_token_.size(), false);
      for (const auto& [tok, id] : vocab_) {
        if (known_[std::size_t(id)] && id_to_token_[std::size_t(id)] != tok)
          fail("model.vocab: id " + std::to_string(id) + " is given to two tokens");
        id_to_token_[std::size_t(id)] = tok;
        known_[std::size_t(id)] = true;
      }
      for (const auto& a : added_) {
        if (known_[std::size_t(a.id)] && id_to_token_[std::size_t(a.id)] != a.content)
          fail("added_tokens: id " + std::to_string(a.id) + " is \"" + id_to_token_[std::size_t(a.id)] +
               "\" in the vocabulary but \"" + a.content + "\" here");
        id_to_token_[std::size_t(a.id)] = a.content;
        known_[std::size_t(a.id)] = true;
        is_added_[std::size_t(a.id)] = true;
      }
      // Longest first, so the first match found at a position is the longest.
      std::stable_sort(added_.begin(), added_.end(), [](const added_token& a, const added_token& b) {
        return a.content.size() > b.content.size();
      });
      const auto& merges = m.at("merges");
      if (!merges.is_array()) fail("model.merges: not an array");
      std::uint32_t rank = 0;
      for (const auto& mg : merges) {
        std::string a, b;
        if (mg.is_string()) {
          const std::string s = mg.get<std::string>();
          const auto sp = s.find(' ');
          if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
            fail("model.merges[" + std::to_string(rank) + "]: \"" + s + "\" is not two tokens separated by one space");
          a = s.substr(0, sp);
          b = s.substr(sp + 1);
        } else if (mg.is_array() && mg.size() == 2 && mg[0].is_string() && mg[1].is_string()) {
          a = mg[0].get<std::string>();
          b = mg[1].get<std::string>();
        } else {
          fail("model.merges[" + std::to_string(rank) + "]: " + mg.dump() + " is not a pair of tokens");
        }
        const auto ia = vocab_.find(a), ib = vocab_.find(b), iab = vocab_.find(a + b);
        if (ia == vocab_.end() || ib == vocab_.end() || iab == vocab_.end())
          fail("model.merges[" + std::to_string(rank) + "]: " + json(a).dump() + " + " + json(b).dump() +
               " uses or makes a token that is not in the vocabulary");
        merges_.emplace(pair_key(ia->second, ib->second), merge_rule{rank, iab->second});
        ++rank;
      }
    }
  }

  static std::uint64_t pair_key(token a, token b) { return (std::uint64_t(std::uint32_t(a)) << 32) | std::uint32_t(b); }

  /// The leftmost added token at or after `from` (longest at that position). next[k] caches
  /// token k's next occurrence; it is searched again only once `from` has passed it, so a text
  /// is scanned once per added token in all.
  std::optional<added_match> next_added(std::string_view text, std::size_t from, std::vector<std::size_t>& next) const {
    if (added_.empty()) return std::nullopt;
    std::optional<added_match> best;
    std::size_t best_at = std::string_view::npos;
    for (std::size_t k = 0; k < added_.size(); ++k) {
      const auto& a = added_[k];
      if (next[k] != std::string_view::npos && next[k] < from) next[k] = text.find(a.content, from);
      const std::size_t p = next[k];
      if (p == std::string_view::npos) continue;
      if (!best || p < best_at) {  // longest first in added_: the first found at a position wins
        best_at = p;
        best = added_match{p, p + a.content.size(), a.id};
        // lstrip/rstrip: the token takes the whitespace beside it
        if (a.lstrip)
          while (best->begin > from && detail::is_space(text[best->begin - 1])) --best->begin;
        if (a.rstrip)
          while (best->end < text.size() && detail::is_space(text[best->end])) ++best->end;
      }
    }
    return best;
  }

  /// Pre-tokenizes and BPE-encodes one segment without added tokens.
  void encode_segment(std::string_view segment, std::vector<token>& out) const {
    std::vector<std::string> pieces{std::string(segment)};
    for (const auto& s : steps_) {
      std::vector<std::string> next;
      for (const auto& p : pieces) apply_step(s, p, next);
      pieces = std::move(next);
    }
    for (const auto& p : pieces) bpe(p, out);
  }

  void apply_step(const pre_step& s, const std::string& piece, std::vector<std::string>& out) const {
    if (s.kind == pre_step::byte_level) {
      std::string text = piece;
      if (s.add_prefix_space && (text.empty() || text[0] != ' ')) text.insert(text.begin(), ' ');
      std::vector<std::string> parts;
      if (s.regex) split_isolated(*s.regex, text, parts);
      else parts.push_back(text);
      const auto& alpha = detail::byte_alphabet::get();
      for (const auto& part : parts) {
        std::string mapped;
        for (char c : part) mapped += alpha.encode[static_cast<unsigned char>(c)];
        if (!mapped.empty()) out.push_back(std::move(mapped));
      }
      return;
    }
    // Split: the matches and the gaps between them, combined per the behaviour.
    std::vector<std::pair<std::size_t, std::size_t>> ranges;
    if (s.regex) ranges = s.regex->matches(piece);
    else
      for (std::size_t p = piece.find(s.literal); p != std::string::npos; p = piece.find(s.literal, p + s.literal.size()))
        ranges.emplace_back(p, p + s.literal.size());
    struct part {
      std::string text;
      bool match;
    };
    std::vector<part> parts;
    std::size_t at = 0;
    for (const auto& [b, e] : ranges) {
      if (b > at) parts.push_back({piece.substr(at, b - at), false});
      parts.push_back({piece.substr(b, e - b), true});
      at = e;
    }
    if (at < piece.size()) parts.push_back({piece.substr(at), false});
    switch (s.behavior) {
      case split_behavior::isolated:
        for (auto& p : parts) out.push_back(std::move(p.text));
        break;
      case split_behavior::removed:
        for (auto& p : parts)
          if (!p.match) out.push_back(std::move(p.text));
        break;
      case split_behavior::merged_with_previous: {
        std::vector<std::string> acc;
        for (auto& p : parts) {
          if (p.match && !acc.empty()) acc.back() += p.text;
          else acc.push_back(std::move(p.text));
        }
        for (auto& a : acc) out.push_back(std::move(a));
        break;
      }
      case split_behavior::merged_with_next: {
        std::string pending;
        for (auto& p : parts) {
          if (p.match) pending += p.text;
          else {
            out.push_back(pending + p.text);
            pending.clear();
          }
        }
        if (!pending.empty()) out.push_back(std::move(pending));
        break;
      }
    }
  }

  static void split_isolated(const pcre2_regex& re, const std::string& text, std::vector<std::string>& out) {
    std::size_t at = 0;
    for (const auto& [b, e] : re.matches(text)) {
      if (b > at) out.push_back(text.substr(at, b - at));
      out.push_back(text.substr(b, e - b));
      at = e;
    }
    if (at < text.size()) out.push_back(text.substr(at));
  }

  /// BPE of one pre-token (in the byte alphabet); results are cached per piece.
  void bpe(const std::string& piece, std::vector<token>& out) const {
    {
      std::lock_guard<std::mutex> lock(cache_->mutex);
      const auto it = cache_->words.find(piece);
      if (it != cache_->words.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        return;
      }
    }
    std::vector<token> word;
    const auto whole = vocab_.find(piece);
    if (ignore_merges_ && whole != vocab_.end()) {
      word.push_back(whole->second);
    } else {
      for (auto ch : detail::utf8_chars(piece)) {
        const auto it = vocab_.find(std::string(ch));
        if (it != vocab_.end()) word.push_back(it->second);
        else if (unk_ >= 0) {
          if (word.empty() || word.back() != unk_ || !fuse_unk_) word.push_back(unk_);
        } else {
          fail("the symbol \"" + std::string(ch) + "\" is not in the vocabulary and there is no unk_token");
        }
      }
      // Repeatedly merge the adjacent pair of lowest rank (its leftmost occurrence first).
      while (word.size() > 1) {
        std::uint32_t best = UINT32_MAX;
        std::size_t at = 0;
        token merged = 0;
        for (std::size_t i = 0; i + 1 < word.size(); ++i) {
          const auto it = merges_.find(pair_key(word[i], word[i + 1]));
          if (it != merges_.end() && it->second.rank < best) {
            best = it->second.rank;
            at = i;
            merged = it->second.result;
          }
        }
        if (best == UINT32_MAX) break;
        word[at] = merged;
        word.erase(word.begin() + std::ptrdiff_t(at) + 1);
      }
    }
    out.insert(out.end(), word.begin(), word.end());
    std::lock_guard<std::mutex> lock(cache_->mutex);
    if (cache_->words.size() < (1u << 20)) cache_->words.emplace(piece, std::move(word));
  }

  struct merge_rule {
    std::uint32_t rank;
    token result;
  };
  struct word_cache {
    std::mutex mutex;
    std::unordered_map<std::string, std::vector<token>> words;
  };

  std::string name_;
  std::vector<pre_step> steps_;
  bool byte_level_ = false, ignore_merges_ = false, fuse_unk_ = false;
  std::unordered_map<std::string, token> vocab_;
  std::vector<added_token> added_;
  std::vector<std::string> id_to_token_;
  std::vector<bool> known_, is_added_;
  std::unordered_map<std::uint64_t, merge_rule> merges_;
  token unk_ = -1, bos_ = -1, eos_ = -1;
  std::shared_ptr<word_cache> cache_ = std::make_shared<word_cache>();  // shared by copies: same results
};

static_assert(Tokenizer<bpe_tokenizer>);

}  // namespace tern::hf
