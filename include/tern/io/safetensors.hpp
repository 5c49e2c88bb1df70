#pragma once
// Export of a model's parameters as safetensors (the Hugging Face interchange format):
//   u64 little-endian header length N, then N bytes of JSON
//   {"name": {"dtype": "F32"|"F64", "shape": [rows, cols], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"format": "pt", "tern_model": <tag>}}
//   then the raw row-major data, tensors in the model's visiting order.
// The header is padded with spaces to a multiple of 8 bytes, as the format allows.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "tern/optim/parameterized.hpp"
#include "tern/core/parameter.hpp"

namespace tern {

namespace detail {
inline std::string json_escape(std::string_view s) {
  std::string out;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') { out += '\\'; out += ch; }
    else if (static_cast<unsigned char>(ch) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(ch)));
      out += buf;
    } else out += ch;
  }
  return out;
}
}  // namespace detail

template <Parameterized M>
void export_safetensors(const std::string& path, M& model, std::string_view model_tag = "") {
  using T = typename M::scalar;
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "export_safetensors: float or double parameters only");
  const char* dtype = sizeof(T) == 4 ? "F32" : "F64";
  std::string header = "{";
  std::uint64_t offset = 0;
  model.for_each_parameter([&](std::string_view name, parameter<T>& p) {
    const std::uint64_t bytes = sizeof(T) * static_cast<std::uint64_t>(p.value.size());
    // Appends rather than operator+ chains (GCC 12 reports a false -Wrestrict on those).
    header.append("\"").append(detail::json_escape(name)).append("\":{\"dtype\":\"").append(dtype);
    header.append("\",\"shape\":[").append(std::to_string(p.value.rows())).append(",");
    header.append(std::to_string(p.value.cols())).append("],\"data_offsets\":[");
    header.append(std::to_string(offset)).append(",").append(std::to_string(offset + bytes)).append("]},");
    offset += bytes;
  });
  header += "\"__metadata__\":{\"format\":\"pt\",\"tern_model\":\"" + detail::json_escape(model_tag) + "\"}}";
  while (header.size() % 8 != 0) header += ' ';
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error("export_safetensors: cannot open '" + path + "' for writing");
  const std::uint64_t n = header.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  model.for_each_parameter([&](std::string_view, parameter<T>& p) {
    out.write(reinterpret_cast<const char*>(p.value.data()), static_cast<std::streamsize>(sizeof(T) * p.value.size()));
  });
  if (!out) throw std::runtime_error("export_safetensors: write to '" + path + "' failed");
}

}  // namespace tern
