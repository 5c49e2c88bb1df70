#pragma once
// The tokenizer concept: text <-> token ids, for any vocabulary.
//
//   t.encode(text)      std::vector<token>: the ids of UTF-8 (or, for byte tokenizers, any) text;
//                       no special tokens are added (callers add bos/eos where they want them)
//   t.decode(ids)       std::string: the text of the ids; decode(encode(s)) == s for every text the
//                       tokenizer can represent exactly (the byte tokenizer: every byte string)
//   t.vocab_size()      one past the largest id encode can return (the model's vocab must be >= it)
//   t.bos_id(), t.eos_id()  the begin/end-of-text ids, or -1 when the tokenizer has none
// What the compiler cannot check: encode and decode do not change the tokenizer (const, and safe
// to call from several threads at once), and an id outside [0, vocab_size()) given to decode is
// a std::out_of_range naming it.
//
// Models: tern::byte_tokenizer (core, the default), tern::hf::bpe_tokenizer (tokenizer.json) and
// tern::hf::sentencepiece_tokenizer (.model), and the type-erased tern::hf::any_tokenizer.
#include <concepts>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tern/core/matrix.hpp"
#include "tern/nn/embedding.hpp"  // token

namespace tern {

template <class T>
concept Tokenizer = requires(const T& t, std::string_view text, std::span<const token> ids) {
  { t.encode(text) } -> std::same_as<std::vector<token>>;
  { t.decode(ids) } -> std::same_as<std::string>;
  { t.vocab_size() } -> std::convertible_to<index>;
  { t.bos_id() } -> std::convertible_to<token>;
  { t.eos_id() } -> std::convertible_to<token>;
};

}  // namespace tern
