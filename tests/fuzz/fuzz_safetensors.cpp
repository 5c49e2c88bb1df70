// libFuzzer target: the safetensors header parser (tern::hf) on arbitrary file images. Every
// input must either parse into tensors that tile the data section, or throw std::runtime_error;
// nothing else (a crash, a sanitizer report, another exception type) is acceptable.
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>

#include "tern/hf/safetensors_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> file(data, size);
  try {
    const auto h = tern::hf::parse_safetensors_header(file, "fuzz.safetensors");
    std::uint64_t covered = 0;
    for (const auto& t : h.tensors) {
      covered += t.bytes.size();
      if (t.bytes.data() < data || t.bytes.data() + t.bytes.size() > data + size) __builtin_trap();
      try {
        (void)tern::hf::safetensors_file::tensor_to_matrix<float>(t, "fuzz.safetensors");
      } catch (const std::runtime_error&) {  // not a float dtype, or not a vector/matrix
      }
    }
    if (covered != size - 8 - h.header_bytes) __builtin_trap();
  } catch (const std::runtime_error&) {
  }
  return 0;
}
