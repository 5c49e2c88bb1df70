// libFuzzer target: the GGUF reader and the model import on arbitrary file images. Every input
// must either be read (and then imported into a model, or refused) or throw gguf_error; nothing
// else (a crash, a sanitizer report, another exception type) is acceptable.
#include <cstddef>
#include <cstdint>

#include "tern/io/gguf_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const tern::gguf_file f = tern::gguf_file::from_bytes(data, size, "fuzz.gguf");
    for (const auto& t : f.tensors())
      if (f.data_offset() + t.offset + t.bytes > size) __builtin_trap();
    (void)tern::load_gguf(f);
  } catch (const tern::gguf_error&) {
  }
  return 0;
}
