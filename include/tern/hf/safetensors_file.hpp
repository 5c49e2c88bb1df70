#pragma once
// Reading safetensors files (the writer is the core's io/safetensors.hpp, which also gives the
// layout and the dtype list).
//
// parse_safetensors_header(bytes, file_name) validates a whole file image as strictly as the
// format's rules, and throws std::runtime_error "safetensors '<file>': <tensor>: <field>: ..."
// on the first violation:
//   - at least 8 bytes; header length N with 2 <= N <= 100,000,000 and 8 + N <= file size;
//   - the header is JSON (nlohmann-json), starts with '{', is one object, no duplicate keys at
//     any level, only spaces may pad it;
//   - "__metadata__", if present, maps strings to strings;
//   - every other key is a tensor: an object with exactly "dtype" (a known dtype string),
//     "shape" (an array of unsigned integers) and "data_offsets" ([begin, end], unsigned,
//     begin <= end); product(shape) x dtype size == end - begin, without overflow;
//   - sorted by begin, the tensors tile the data section exactly: the first starts at 0, each
//     starts where the previous ends (no holes, no overlaps), the last ends at the file's end.
// safetensors_file owns the bytes (a memory map, hf/mapped_file.hpp, or a copy) and hands out
// tensors as byte spans and as Eigen matrices converted from F64, F32, F16 or BF16.
#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tern/core/matrix.hpp"
#include "tern/hf/mapped_file.hpp"
#include "tern/io/safetensors.hpp"

namespace tern::hf {

/// The largest header the format allows (as its reference implementation).
inline constexpr std::uint64_t safetensors_max_header = 100'000'000;

/// One tensor of a file: bytes points into the file's data section.
struct safetensors_tensor {
  std::string name;
  safetensors_dtype dtype = safetensors_dtype::F32;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0, end = 0;  ///< offsets in the data section
  std::span<const std::uint8_t> bytes;

  std::int64_t elements() const {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
  std::string shape_string() const {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
  }
};

/// What parse_safetensors_header finds: tensors sorted by offset, and the metadata.
struct safetensors_header {
  std::vector<safetensors_tensor> tensors;
  std::map<std::string, std::string> metadata;
  std::uint64_t header_bytes = 0;  ///< N
};

namespace detail {
[[noreturn]] inline void st_fail(std::string_view file, const std::string& msg) {
  throw std::runtime_error("safetensors '" + std::string(file) + "': " + msg);
}

inline std::uint64_t st_unsigned(std::string_view file, const nlohmann::json& v, const std::string& what) {
  if (!v.is_number_unsigned()) st_fail(file, what + " must be an unsigned integer, got " + v.dump());
  return v.get<std::uint64_t>();
}
}  // namespace detail

/// Validates the whole file image `file` (see the file comment); the returned spans point into it.
inline safetensors_header parse_safetensors_header(std::span<const std::uint8_t> file, std::string_view file_name) {
  using nlohmann::json;
  const auto fail = [&](const std::string& msg) { detail::st_fail(file_name, msg); };
  if (file.size() < 8)
    fail("file is " + std::to_string(file.size()) + " bytes, shorter than the 8-byte header length");
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= std::uint64_t(file[std::size_t(i)]) << (8 * i);
  if (n > safetensors_max_header) fail("header length " + std::to_string(n) + " exceeds the format's limit of 100000000 bytes");
  if (n > file.size() - 8)
    fail("header length " + std::to_string(n) + " runs past the end of the file (" + std::to_string(file.size()) +
         " bytes: truncated?)");
  if (n < 2) fail("header length " + std::to_string(n) + " is too short for a JSON object");
  const auto* hb = reinterpret_cast<const char*>(file.data() + 8);
  const std::string_view text(hb, std::size_t(n));
  if (text.front() != '{') fail("header does not start with '{'");

  // nlohmann keeps the last of duplicate keys silently; the callback sees every key and refuses
  // repeats, one key set per open object.
  std::vector<std::vector<std::string>> open_objects;
  std::string duplicate;
  const json::parser_callback_t on_event = [&](int, json::parse_event_t ev, json& parsed) {
    if (ev == json::parse_event_t::object_start) open_objects.emplace_back();
    else if (ev == json::parse_event_t::object_end && !open_objects.empty()) open_objects.pop_back();
    else if (ev == json::parse_event_t::key && !open_objects.empty()) {
      auto& keys = open_objects.back();
      const std::string k = parsed.get<std::string>();
      if (std::find(keys.begin(), keys.end(), k) != keys.end() && duplicate.empty()) duplicate = k;
      keys.push_back(k);
    }
    return true;
  };
  json h;
  try {
    h = json::parse(text.begin(), text.end(), on_event, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const json::exception& e) {
    fail(std::string("header is not valid JSON: ") + e.what());
  }
  if (!duplicate.empty()) fail("header: key \"" + duplicate + "\" appears twice in one object");
  if (!h.is_object()) fail("header is not a JSON object");
  // Only spaces may follow the object (the format's padding).
  const std::size_t last = text.find_last_not_of(' ');
  if (last == std::string_view::npos || text[last] != '}') fail("header: only spaces may follow the JSON object");

  safetensors_header out;
  out.header_bytes = n;
  const std::uint64_t data_size = file.size() - 8 - n;
  const std::uint8_t* data = file.data() + 8 + n;
  for (const auto& [key, value] : h.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) fail("__metadata__ must be an object of strings");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) fail("__metadata__: value of \"" + mk + "\" must be a string, got " + mv.dump());
        out.metadata.emplace(mk, mv.get<std::string>());
      }
      continue;
    }
    const std::string where = "tensor '" + key + "'";
    if (!value.is_object()) fail(where + ": entry must be an object, got " + value.dump());
    for (const auto& [field, unused] : value.items()) {
      (void)unused;
      if (field != "dtype" && field != "shape" && field != "data_offsets") fail(where + ": unknown field \"" + field + "\"");
    }
    for (const char* field : {"dtype", "shape", "data_offsets"})
      if (!value.contains(field)) fail(where + ": missing field \"" + field + "\"");
    safetensors_tensor t;
    t.name = key;
    const auto& dt = value["dtype"];
    if (!dt.is_string()) fail(where + ": dtype must be a string, got " + dt.dump());
    const auto parsed = parse_dtype(dt.get<std::string>());
    if (!parsed) fail(where + ": dtype: unknown dtype \"" + dt.get<std::string>() + "\"");
    t.dtype = *parsed;
    const auto& shape = value["shape"];
    if (!shape.is_array()) fail(where + ": shape must be an array, got " + shape.dump());
    std::uint64_t elements = 1;
    bool overflow = false;
    for (std::size_t i = 0; i < shape.size(); ++i) {
      const std::uint64_t d = detail::st_unsigned(file_name, shape[i], where + ": shape[" + std::to_string(i) + "]");
      if (d > std::uint64_t(INT64_MAX)) overflow = true;
      if (d != 0 && elements > UINT64_MAX / d) overflow = true;
      elements *= d;
      t.shape.push_back(std::int64_t(d));
    }
    const auto& offs = value["data_offsets"];
    if (!offs.is_array() || offs.size() != 2) fail(where + ": data_offsets must be an array [begin, end], got " + offs.dump());
    t.begin = detail::st_unsigned(file_name, offs[0], where + ": data_offsets[0]");
    t.end = detail::st_unsigned(file_name, offs[1], where + ": data_offsets[1]");
    if (t.begin > t.end)
      fail(where + ": data_offsets: begin " + std::to_string(t.begin) + " is after end " + std::to_string(t.end));
    const std::uint64_t size = dtype_size(t.dtype);
    if (overflow || elements > UINT64_MAX / size)
      fail(where + ": shape " + shape.dump() + ": the element count overflows");
    if (elements * size != t.end - t.begin)
      fail(where + ": shape " + shape.dump() + " x " + dtype_name(t.dtype) + " is " + std::to_string(elements * size) +
           " bytes but data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "] span " +
           std::to_string(t.end - t.begin));
    if (t.end > data_size)
      fail(where + ": data_offsets end " + std::to_string(t.end) + " is past the data section (" +
           std::to_string(data_size) + " bytes: truncated?)");
    t.bytes = std::span<const std::uint8_t>(data + t.begin, std::size_t(t.end - t.begin));
    out.tensors.push_back(std::move(t));
  }
  std::stable_sort(out.tensors.begin(), out.tensors.end(),
                   [](const safetensors_tensor& a, const safetensors_tensor& b) {
                     return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
                   });
  std::uint64_t at = 0;
  for (const auto& t : out.tensors) {
    if (t.begin < at)
      fail("tensor '" + t.name + "': data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
           "] overlap the previous tensor, which ends at " + std::to_string(at));
    if (t.begin > at)
      fail("tensor '" + t.name + "': data_offsets begin " + std::to_string(t.begin) + " leaves a hole after byte " +
           std::to_string(at) + " of the data section");
    at = t.end;
  }
  if (at != data_size)
    fail("the tensors cover " + std::to_string(at) + " bytes but the data section has " + std::to_string(data_size) +
         " (trailing bytes)");
  return out;
}

/// Element i of a float tensor's bytes as double (F64, F32, F16, BF16).
namespace detail {
template <class T>
void decode_floats(std::span<const std::uint8_t> bytes, safetensors_dtype dtype, T* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    switch (dtype) {
      case safetensors_dtype::F64: {
        double x;
        std::memcpy(&x, bytes.data() + 8 * i, 8);
        out[i] = T(x);
        break;
      }
      case safetensors_dtype::F32: {
        float x;
        std::memcpy(&x, bytes.data() + 4 * i, 4);
        out[i] = T(x);
        break;
      }
      case safetensors_dtype::F16: {
        std::uint16_t b;
        std::memcpy(&b, bytes.data() + 2 * i, 2);
        out[i] = T(float(Eigen::numext::bit_cast<Eigen::half>(b)));
        break;
      }
      case safetensors_dtype::BF16: {
        std::uint16_t b;
        std::memcpy(&b, bytes.data() + 2 * i, 2);
        out[i] = T(float(Eigen::numext::bit_cast<Eigen::bfloat16>(b)));
        break;
      }
      default: break;
    }
  }
}
}  // namespace detail

/// A validated safetensors file and its bytes.
class safetensors_file {
 public:
  /// Opens and validates `path` (memory-mapped unless allow_mmap is false).
  static safetensors_file open(const std::string& path, bool allow_mmap = true) {
    auto file = std::make_shared<mapped_file>(path, allow_mmap);
    const auto bytes = file->bytes();
    safetensors_file f(path, parse_safetensors_header(bytes, path));
    f.owner_ = std::move(file);
    return f;
  }

  /// Validates a file image in memory (copied); `name` stands for the file in messages.
  static safetensors_file from_bytes(std::vector<std::uint8_t> bytes, std::string name) {
    auto owned = std::make_shared<std::vector<std::uint8_t>>(std::move(bytes));
    safetensors_file f(name, parse_safetensors_header(*owned, name));
    f.owner_ = std::move(owned);
    return f;
  }

  const std::string& name() const { return name_; }
  /// Tensors in the order of their data.
  const std::vector<safetensors_tensor>& tensors() const { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }

  const safetensors_tensor* find(std::string_view tensor) const {
    const auto it = index_.find(tensor);
    return it == index_.end() ? nullptr : &header_.tensors[it->second];
  }
  const safetensors_tensor& at(std::string_view tensor) const {
    const auto* t = find(tensor);
    if (!t) throw std::runtime_error("safetensors '" + name_ + "': no tensor '" + std::string(tensor) + "'");
    return *t;
  }

  /// A float tensor of rank 1 (as 1 x n) or 2 (rows x cols) converted to T.
  template <class T>
  matrix<T> to_matrix(std::string_view tensor) const {
    return tensor_to_matrix<T>(at(tensor), name_);
  }

  /// t (from a file named `file`) as a T matrix; std::runtime_error for other dtypes or ranks.
  template <class T>
  static matrix<T> tensor_to_matrix(const safetensors_tensor& t, std::string_view file) {
    const auto d = t.dtype;
    if (d != safetensors_dtype::F64 && d != safetensors_dtype::F32 && d != safetensors_dtype::F16 && d != safetensors_dtype::BF16)
      throw std::runtime_error("safetensors '" + std::string(file) + "': tensor '" + t.name + "': dtype " + dtype_name(d) +
                               " is not a float type (F64, F32, F16, BF16)");
    if (t.shape.empty() || t.shape.size() > 2)
      throw std::runtime_error("safetensors '" + std::string(file) + "': tensor '" + t.name + "': shape " + t.shape_string() +
                               " is not a vector or a matrix");
    const index rows = t.shape.size() == 2 ? index(t.shape[0]) : 1;
    const index cols = t.shape.size() == 2 ? index(t.shape[1]) : index(t.shape[0]);
    matrix<T> m(rows, cols);
    detail::decode_floats(t.bytes, d, m.data(), std::size_t(m.size()));
    return m;
  }

 private:
  safetensors_file(std::string name, safetensors_header h) : name_(std::move(name)), header_(std::move(h)) {
    for (std::size_t i = 0; i < header_.tensors.size(); ++i) index_.emplace(header_.tensors[i].name, i);
  }
  std::string name_;
  safetensors_header header_;
  std::map<std::string, std::size_t, std::less<>> index_;
  std::shared_ptr<const void> owner_;  // the mapped_file or the byte vector behind the spans
};

}  // namespace tern::hf
