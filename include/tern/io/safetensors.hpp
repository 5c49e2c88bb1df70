#pragma once
// safetensors (the Hugging Face interchange format), the writing side; needs no JSON library
// (the reader, which must parse JSON, is tern::hf's hf/safetensors_file.hpp).
//
// Layout of a file:
//   u64 little-endian N, then N bytes of JSON header
//     {"name": {"dtype": "F32", "shape": [rows, cols], "data_offsets": [begin, end]}, ...,
//      "__metadata__": {"key": "value", ...}}
//   then the data section: every tensor's raw row-major little-endian bytes, at
//   [begin, end) relative to the start of the section, contiguous, no holes, no overlap.
// The header is padded with spaces to a multiple of 8 bytes, as the format allows.
//
// write_safetensors writes `path + ".tmp"`, checks every write, the flush and the close, and
// renames it over `path`: a failed write is a std::runtime_error naming the file, never a torn
// or silently short file.
//
// export_safetensors(path, model, tag): every parameter of a Parameterized model under its tern
// name ("layers.0.attn.q.weight"), as F32 (float) or F64 (double), metadata
// {"format": "pt", "tern_model": tag}. For the Hugging Face layout, see hf/llama_export.hpp.
#include <Eigen/Core>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tern/core/matrix.hpp"
#include "tern/core/parameter.hpp"
#include "tern/optim/parameterized.hpp"

namespace tern {

/// The element types the safetensors format defines (its dtype strings).
enum class safetensors_dtype { BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64 };

/// The dtype string of the format ("F32", ...).
inline const char* dtype_name(safetensors_dtype d) {
  switch (d) {
    case safetensors_dtype::BOOL: return "BOOL";
    case safetensors_dtype::U8: return "U8";
    case safetensors_dtype::I8: return "I8";
    case safetensors_dtype::F8_E5M2: return "F8_E5M2";
    case safetensors_dtype::F8_E4M3: return "F8_E4M3";
    case safetensors_dtype::I16: return "I16";
    case safetensors_dtype::U16: return "U16";
    case safetensors_dtype::F16: return "F16";
    case safetensors_dtype::BF16: return "BF16";
    case safetensors_dtype::I32: return "I32";
    case safetensors_dtype::U32: return "U32";
    case safetensors_dtype::F32: return "F32";
    case safetensors_dtype::F64: return "F64";
    case safetensors_dtype::I64: return "I64";
    case safetensors_dtype::U64: return "U64";
  }
  return "?";
}

/// Bytes per element.
inline std::size_t dtype_size(safetensors_dtype d) {
  switch (d) {
    case safetensors_dtype::BOOL:
    case safetensors_dtype::U8:
    case safetensors_dtype::I8:
    case safetensors_dtype::F8_E5M2:
    case safetensors_dtype::F8_E4M3: return 1;
    case safetensors_dtype::I16:
    case safetensors_dtype::U16:
    case safetensors_dtype::F16:
    case safetensors_dtype::BF16: return 2;
    case safetensors_dtype::I32:
    case safetensors_dtype::U32:
    case safetensors_dtype::F32: return 4;
    case safetensors_dtype::F64:
    case safetensors_dtype::I64:
    case safetensors_dtype::U64: return 8;
  }
  return 0;
}

/// The dtype named by a format string, or nullopt for an unknown one.
inline std::optional<safetensors_dtype> parse_dtype(std::string_view s) {
  for (int i = 0; i <= int(safetensors_dtype::U64); ++i)
    if (s == dtype_name(safetensors_dtype(i))) return safetensors_dtype(i);
  return std::nullopt;
}

/// One tensor to write: its bytes are the caller's and must outlive the call.
struct safetensors_entry {
  std::string name;
  safetensors_dtype dtype = safetensors_dtype::F32;
  std::vector<std::int64_t> shape;
  std::span<const std::uint8_t> bytes;
};

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

/// Writes to `path + ".tmp"`, renames over `path` on commit(); checks every step.
class checked_file_writer {
 public:
  checked_file_writer(std::string path, std::string who) : path_(std::move(path)), tmp_(path_ + ".tmp"), who_(std::move(who)) {
    out_.open(tmp_, std::ios::binary | std::ios::trunc);
    if (!out_) throw std::runtime_error(who_ + ": cannot open '" + tmp_ + "' for writing");
  }
  checked_file_writer(const checked_file_writer&) = delete;
  checked_file_writer& operator=(const checked_file_writer&) = delete;
  ~checked_file_writer() {
    if (!committed_) {
      out_.close();
      std::remove(tmp_.c_str());
    }
  }
  void write(const void* p, std::size_t n) {
    out_.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
    if (!out_) throw std::runtime_error(who_ + ": write to '" + tmp_ + "' failed (disk full?)");
  }
  void commit() {
    out_.flush();
    if (!out_) throw std::runtime_error(who_ + ": flushing '" + tmp_ + "' failed (disk full?)");
    out_.close();
    if (!out_) throw std::runtime_error(who_ + ": closing '" + tmp_ + "' failed");
    if (std::rename(tmp_.c_str(), path_.c_str()) != 0)
      throw std::runtime_error(who_ + ": cannot rename '" + tmp_ + "' to '" + path_ + "'");
    committed_ = true;
  }

 private:
  std::string path_, tmp_, who_;
  std::ofstream out_;
  bool committed_ = false;
};
}  // namespace detail

/// Writes `tensors` (in the given order) and the string map `metadata` as one safetensors file.
/// Throws std::invalid_argument for an entry whose byte count is not its shape times the dtype
/// size, a duplicate or empty name, or the reserved name "__metadata__".
inline void write_safetensors(const std::string& path, const std::vector<safetensors_entry>& tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
  std::string header = "{";
  std::uint64_t offset = 0;
  std::map<std::string_view, int> seen;
  for (const auto& t : tensors) {
    if (t.name.empty() || t.name == "__metadata__")
      throw std::invalid_argument("write_safetensors '" + path + "': invalid tensor name '" + t.name + "'");
    if (!seen.emplace(t.name, 0).second)
      throw std::invalid_argument("write_safetensors '" + path + "': tensor '" + t.name + "' given twice");
    std::uint64_t elements = 1;
    for (auto d : t.shape) {
      if (d < 0) throw std::invalid_argument("write_safetensors '" + path + "': tensor '" + t.name + "' has a negative dimension");
      elements *= std::uint64_t(d);
    }
    if (elements * dtype_size(t.dtype) != t.bytes.size())
      throw std::invalid_argument("write_safetensors '" + path + "': tensor '" + t.name + "' has " +
                                  std::to_string(t.bytes.size()) + " bytes but its shape and dtype " + dtype_name(t.dtype) +
                                  " need " + std::to_string(elements * dtype_size(t.dtype)));
    // Appends rather than operator+ chains (GCC 12 reports a false -Wrestrict on those).
    header.append("\"").append(detail::json_escape(t.name)).append("\":{\"dtype\":\"").append(dtype_name(t.dtype));
    header.append("\",\"shape\":[");
    for (std::size_t i = 0; i < t.shape.size(); ++i) header.append(i ? "," : "").append(std::to_string(t.shape[i]));
    header.append("],\"data_offsets\":[").append(std::to_string(offset)).append(",");
    header.append(std::to_string(offset + t.bytes.size())).append("]},");
    offset += t.bytes.size();
  }
  header += "\"__metadata__\":{";
  bool first = true;
  for (const auto& [k, v] : metadata) {
    header.append(first ? "" : ",").append("\"").append(detail::json_escape(k)).append("\":\"");
    header.append(detail::json_escape(v)).append("\"");
    first = false;
  }
  header += "}}";
  while (header.size() % 8 != 0) header += ' ';
  detail::checked_file_writer out(path, "write_safetensors");
  std::uint8_t n[8];
  for (int i = 0; i < 8; ++i) n[i] = std::uint8_t(std::uint64_t(header.size()) >> (8 * i));
  out.write(n, 8);
  out.write(header.data(), header.size());
  for (const auto& t : tensors) out.write(t.bytes.data(), t.bytes.size());
  out.commit();
}

/// The little-endian bytes of m (row-major) as dtype F64, F32, F16 or BF16 (F16 and BF16
/// round to nearest even, through Eigen::half and Eigen::bfloat16).
template <class Derived>
std::vector<std::uint8_t> encode_floats(const Eigen::DenseBase<Derived>& m, safetensors_dtype dtype) {
  static_assert(std::endian::native == std::endian::little, "safetensors: little-endian hosts only");
  const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> v = m.template cast<double>();
  const std::size_t n = std::size_t(v.size());
  std::vector<std::uint8_t> out(n * dtype_size(dtype));
  for (std::size_t i = 0; i < n; ++i) {
    const double x = v.data()[i];
    switch (dtype) {
      case safetensors_dtype::F64: std::memcpy(&out[8 * i], &x, 8); break;
      case safetensors_dtype::F32: {
        const float f = float(x);
        std::memcpy(&out[4 * i], &f, 4);
        break;
      }
      case safetensors_dtype::F16: {
        const std::uint16_t b = Eigen::numext::bit_cast<std::uint16_t>(Eigen::half(float(x)));
        std::memcpy(&out[2 * i], &b, 2);
        break;
      }
      case safetensors_dtype::BF16: {
        const std::uint16_t b = Eigen::numext::bit_cast<std::uint16_t>(Eigen::bfloat16(float(x)));
        std::memcpy(&out[2 * i], &b, 2);
        break;
      }
      default: throw std::invalid_argument(std::string("encode_floats: dtype ") + dtype_name(dtype) + " is not a float type");
    }
  }
  return out;
}

/// Writes every parameter of `model` under its tern name, F32 for float and F64 for double.
template <Parameterized M>
void export_safetensors(const std::string& path, M& model, std::string_view model_tag = "") {
  using T = typename M::scalar;
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "export_safetensors: float or double parameters only");
  const safetensors_dtype dtype = sizeof(T) == 4 ? safetensors_dtype::F32 : safetensors_dtype::F64;
  std::vector<safetensors_entry> entries;
  model.for_each_parameter([&](std::string_view name, parameter<T>& p) {
    const auto* data = reinterpret_cast<const std::uint8_t*>(p.value.data());
    entries.push_back({std::string(name), dtype, {p.value.rows(), p.value.cols()},
                       std::span<const std::uint8_t>(data, sizeof(T) * std::size_t(p.value.size()))});
  });
  write_safetensors(path, entries, {{"format", "pt"}, {"tern_model", std::string(model_tag)}});
}

}  // namespace tern
