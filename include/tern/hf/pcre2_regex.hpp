#pragma once
// A compiled PCRE2 pattern (UTF-8, Unicode properties: \p{L}, \s are Unicode-aware) and the
// non-overlapping matches of it in a text, as tokenizer.json's Split pre-tokenizer uses it.
// PCRE2 is used because the GPT-2 / Llama 3 patterns need lookahead ("\s+(?!\S)").
// Errors name the pattern and PCRE2's message. Immutable after construction; matching is
// thread-safe (each call uses its own match data).
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

namespace tern::hf {

class pcre2_regex {
 public:
  explicit pcre2_regex(const std::string& pattern) : pattern_(pattern) {
    int err = 0;
    PCRE2_SIZE offset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP,
                                     &err, &offset, nullptr);
    if (!code)
      throw std::runtime_error("regex '" + pattern + "': " + message(err) + " at offset " + std::to_string(offset));
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // optional: plain matching is used if JIT is unavailable
    code_.reset(code, pcre2_code_free);
  }

  const std::string& pattern() const { return pattern_; }

  /// [begin, end) byte ranges of the successive non-empty matches in `text` (valid UTF-8).
  std::vector<std::pair<std::size_t, std::size_t>> matches(std::string_view text) const {
    std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(
        pcre2_match_data_create_from_pattern(code_.get(), nullptr), pcre2_match_data_free);
    if (!md) throw std::bad_alloc();
    std::vector<std::pair<std::size_t, std::size_t>> out;
    std::size_t at = 0;
    std::uint32_t options = 0;
    while (at <= text.size()) {
      const int rc = pcre2_match(code_.get(), reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), at, options, md.get(), nullptr);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) throw std::runtime_error("regex '" + pattern_ + "': matching failed: " + message(rc));
      options = PCRE2_NO_UTF_CHECK;  // the text was checked by the first call
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
      const std::size_t b = ov[0], e = ov[1];
      if (e > b) {
        out.emplace_back(b, e);
        at = e;
      } else {  // an empty match: step over one code point
        if (b >= text.size()) break;
        at = b + 1;
        while (at < text.size() && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80) ++at;
      }
    }
    return out;
  }

 private:
  static std::string message(int code) {
    PCRE2_UCHAR buf[256];
    const int n = pcre2_get_error_message(code, buf, sizeof buf);
    return n > 0 ? std::string(reinterpret_cast<const char*>(buf), std::size_t(n)) : "PCRE2 error " + std::to_string(code);
  }
  std::string pattern_;
  std::shared_ptr<pcre2_code> code_;
};

}  // namespace tern::hf
