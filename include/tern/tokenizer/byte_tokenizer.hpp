#pragma once
// The byte tokenizer: every byte is its own token (ids 0..255), any byte string round-trips.
// tern's default vocabulary (byte_corpus, the demo); it has no bos/eos.
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tern/tokenizer/tokenizer.hpp"

namespace tern {

class byte_tokenizer {
 public:
  std::vector<token> encode(std::string_view text) const {
    std::vector<token> ids(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) ids[i] = token(static_cast<unsigned char>(text[i]));
    return ids;
  }
  std::string decode(std::span<const token> ids) const {
    std::string out(ids.size(), '\0');
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0 || ids[i] > 255)
        throw std::out_of_range("byte_tokenizer::decode: id " + std::to_string(ids[i]) + " at position " +
                                std::to_string(i) + " is outside [0, 256)");
      out[i] = char(static_cast<unsigned char>(ids[i]));
    }
    return out;
  }
  index vocab_size() const { return 256; }
  token bos_id() const { return -1; }
  token eos_id() const { return -1; }
};

static_assert(Tokenizer<byte_tokenizer>);

}  // namespace tern
