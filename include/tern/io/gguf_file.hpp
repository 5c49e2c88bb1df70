#pragma once
// A GGUF v3 file, read and validated (the writer is gguf_writer.hpp). Layout, little-endian:
//
//   "GGUF"  u32 version (3)  u64 tensor_count  u64 metadata_count
//   metadata_count x { string key, u32 type, value }          (gguf_value.hpp: the types)
//   tensor_count   x { string name, u32 n_dims, u64 dims[n_dims] (innermost first),
//                      u32 type, u64 offset (from the data section) }
//   zero padding to a multiple of general.alignment (u32, a power of two; 32 when absent)
//   data section: each tensor at its offset, a multiple of the alignment
//
// Strings are u64 length + bytes. A (rows x cols) matrix has dims [cols, rows]: dims[0] is the
// row length, which a block type (TQ1_0, TQ2_0: 256) must divide.
//
//   gguf_file f = gguf_file::open("model.gguf");        // mmap (read as fallback)
//   const gguf_value* v = f.find("general.architecture");
//   for (const gguf_tensor_info& t : f.tensors()) f.tensor_data(t) ...
//
// Validation before anything is trusted: the magic, the version, the counts (bounded by what the
// file's size can hold), every string length (inside the file; keys and tensor names valid UTF-8,
// names shorter than 64 bytes), value types and array element types (arrays nest at most 8 deep),
// duplicate keys and names, general.alignment (u32, power of two), tensor dims (1 to 4, each
// positive, element count without overflow, a block type's row length a multiple of 256), tensor
// types (the five above; any other is refused naming its id), offsets (aligned, inside the
// file, no two tensors overlapping). Failures throw gguf_error naming the file and the field.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sys/mman.h>

#include "tern/io/gguf_value.hpp"
#include "tern/io/regular_file.hpp"

namespace tern {

inline constexpr std::uint32_t gguf_version = 3;
inline constexpr std::uint32_t gguf_default_alignment = 32;

/// One tensor of a GGUF file.
struct gguf_tensor_info {
  std::string name;
  std::vector<std::uint64_t> dims;  ///< innermost first (dims[0] = row length)
  gguf_tensor_type type = gguf_tensor_type::f32;
  std::uint64_t offset = 0;  ///< from the start of the data section
  std::uint64_t bytes = 0;   ///< what the dims and type take
  std::uint64_t elements() const {
    std::uint64_t n = 1;
    for (auto d : dims) n *= d;
    return n;
  }
};

namespace detail::gguf {

/// Bytes a tensor of this type and these dims takes, or 0 when dims[0] is not a multiple of the
/// block or the count overflows.
inline std::uint64_t tensor_bytes(gguf_tensor_type t, const std::vector<std::uint64_t>& dims) {
  const std::uint64_t be = gguf_block_elements(t), bb = gguf_block_bytes(t);
  if (dims.empty() || dims[0] % be != 0) return 0;
  std::uint64_t n = 0;
  if (__builtin_mul_overflow(dims[0] / be, bb, &n)) return 0;
  for (std::size_t i = 1; i < dims.size(); ++i)
    if (__builtin_mul_overflow(n, dims[i], &n)) return 0;
  return n;
}

/// Whether s is well-formed UTF-8 (no overlong forms, no surrogates, at most U+10FFFF).
inline bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const unsigned c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    unsigned cp = 0, min = 0;
    if (c < 0x80) { ++i; continue; }
    if ((c >> 5) == 0x6) n = 1, cp = c & 0x1f, min = 0x80;
    else if ((c >> 4) == 0xe) n = 2, cp = c & 0x0f, min = 0x800;
    else if ((c >> 3) == 0x1e) n = 3, cp = c & 0x07, min = 0x10000;
    else return false;
    if (s.size() - i <= n) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const unsigned b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

inline std::shared_ptr<std::uint8_t> aligned_heap(std::size_t n) {
  return std::shared_ptr<std::uint8_t>(static_cast<std::uint8_t*>(::operator new(std::max<std::size_t>(n, 64), std::align_val_t{64})),
                                       [](std::uint8_t* p) { ::operator delete(p, std::align_val_t{64}); });
}

/// Sequential little-endian reads with every length checked against the end.
class cursor {
 public:
  cursor(const std::uint8_t* p, std::size_t n, const std::string& file) : p_(p), n_(n), file_(file) {}
  std::size_t at() const { return at_; }
  std::size_t left() const { return n_ - at_; }
  [[noreturn]] void fail(const std::string& field, const std::string& why) const {
    throw gguf_error("GGUF file '" + file_ + "': " + field + ": " + why);
  }
  template <class V>
  V get(const std::string& field) {
    if (left() < sizeof(V))
      fail(field, "the file ends at byte " + std::to_string(n_) + " inside this field (truncated)");
    V v;
    std::memcpy(&v, p_ + at_, sizeof(V));
    at_ += sizeof(V);
    return v;
  }
  std::string str(const std::string& field) {
    const auto len = get<std::uint64_t>(field + " length");
    if (len > left())
      fail(field, "a string of " + std::to_string(len) + " bytes at byte " + std::to_string(at_) + " runs past the end (" +
                      std::to_string(left()) + " bytes left)");
    std::string s(reinterpret_cast<const char*>(p_ + at_), std::size_t(len));
    at_ += std::size_t(len);
    return s;
  }

 private:
  const std::uint8_t* p_;
  std::size_t n_, at_ = 0;
  const std::string& file_;
};

inline constexpr int max_array_depth = 8;

inline gguf_value read_value(cursor& c, gguf_type t, const std::string& field, int depth) {
  switch (t) {
    case gguf_type::u8: return gguf_value(c.get<std::uint8_t>(field));
    case gguf_type::i8: return gguf_value(c.get<std::int8_t>(field));
    case gguf_type::u16: return gguf_value(c.get<std::uint16_t>(field));
    case gguf_type::i16: return gguf_value(c.get<std::int16_t>(field));
    case gguf_type::u32: return gguf_value(c.get<std::uint32_t>(field));
    case gguf_type::i32: return gguf_value(c.get<std::int32_t>(field));
    case gguf_type::f32: return gguf_value(c.get<float>(field));
    case gguf_type::u64: return gguf_value(c.get<std::uint64_t>(field));
    case gguf_type::i64: return gguf_value(c.get<std::int64_t>(field));
    case gguf_type::f64: return gguf_value(c.get<double>(field));
    case gguf_type::boolean: {
      const auto b = c.get<std::uint8_t>(field);
      if (b > 1) c.fail(field, "a bool holds " + std::to_string(b) + ", not 0 or 1");
      return gguf_value(b == 1);
    }
    case gguf_type::string: return gguf_value(c.str(field));
    case gguf_type::array: {
      if (depth >= max_array_depth) c.fail(field, "arrays nest deeper than " + std::to_string(max_array_depth));
      const auto et = c.get<std::uint32_t>(field + " element type");
      if (et > 12) c.fail(field, "unknown array element type " + std::to_string(et));
      const auto elem = gguf_type(et);
      const auto count = c.get<std::uint64_t>(field + " count");
      const std::size_t min_bytes = elem == gguf_type::string ? 8 : elem == gguf_type::array ? 12 : gguf_type_size(elem);
      if (count > c.left() / min_bytes)
        c.fail(field, "an array of " + std::to_string(count) + " " + std::string(gguf_type_name(elem)) +
                          " values cannot fit in the " + std::to_string(c.left()) + " bytes left");
      gguf_value::array items;
      items.reserve(std::size_t(count));
      for (std::uint64_t i = 0; i < count; ++i) items.push_back(read_value(c, elem, field + "[" + std::to_string(i) + "]", depth + 1));
      return gguf_value(elem, std::move(items));
    }
  }
  c.fail(field, "unknown value type " + std::to_string(std::uint32_t(t)));
}

}  // namespace detail::gguf

class gguf_file {
 public:
  /// Reads and validates `path` (memory-mapped unless use_mmap is false); throws gguf_error.
  static gguf_file open(const std::string& path, bool use_mmap = true) {
    std::shared_ptr<const std::uint8_t> data;
    std::size_t size = 0;
    try {
      regular_file f(path, "GGUF file");
      if (f.size() > std::numeric_limits<std::size_t>::max() / 2) throw gguf_error("GGUF file '" + path + "': too large to map");
      size = static_cast<std::size_t>(f.size());
      if (use_mmap && size > 0) {
        void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, f.descriptor(), 0);
        if (p != MAP_FAILED)
          data = std::shared_ptr<const std::uint8_t>(static_cast<const std::uint8_t*>(p),
                                                     [size](const std::uint8_t* q) { ::munmap(const_cast<std::uint8_t*>(q), size); });
      }
      if (!data) {
        auto buf = detail::gguf::aligned_heap(size);
        if (size) f.read(buf.get(), size);
        data = buf;
      }
    } catch (const gguf_error&) {
      throw;
    } catch (const std::exception& e) {
      throw gguf_error(e.what());
    }
    return gguf_file(std::move(data), size, path);
  }

  /// Validates bytes in memory (copied; `name` appears in errors).
  static gguf_file from_bytes(const void* p, std::size_t n, const std::string& name) {
    auto buf = detail::gguf::aligned_heap(n);
    if (n) std::memcpy(buf.get(), p, n);
    return gguf_file(std::shared_ptr<const std::uint8_t>(buf), n, name);
  }

  const std::string& name() const { return name_; }
  std::uint32_t version() const { return version_; }
  std::uint32_t alignment() const { return alignment_; }
  std::size_t size() const { return size_; }
  /// Byte offset of the data section in the file.
  std::uint64_t data_offset() const { return data_offset_; }
  /// The metadata in file order.
  const std::vector<std::pair<std::string, gguf_value>>& metadata() const { return meta_; }
  const std::vector<gguf_tensor_info>& tensors() const { return tensors_; }

  /// The value of `key`, or nullptr.
  const gguf_value* find(std::string_view key) const {
    auto it = meta_index_.find(std::string(key));
    return it == meta_index_.end() ? nullptr : &meta_[it->second].second;
  }
  /// The tensor called `name`, or nullptr.
  const gguf_tensor_info* find_tensor(std::string_view name) const {
    auto it = tensor_index_.find(std::string(name));
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
  }

  /// The value of `key` as a string (gguf_error naming the key if absent or not a string).
  const std::string& get_string(std::string_view key) const {
    const gguf_value* v = require(key);
    if (!v->is_string()) fail(std::string(key), "a " + std::string(gguf_type_name(v->type())) + ", expected a string");
    return v->str();
  }
  /// The value of `key` as a non-negative integer of any integer type.
  std::uint64_t get_uint(std::string_view key) const {
    const gguf_value* v = require(key);
    std::uint64_t u = 0;
    if (!v->as_u64(u)) fail(std::string(key), "a " + std::string(gguf_type_name(v->type())) + ", expected a non-negative integer");
    return u;
  }
  /// The value of `key` as a double (f32 or f64).
  double get_float(std::string_view key) const {
    const gguf_value* v = require(key);
    double d = 0;
    if (!v->as_f64(d)) fail(std::string(key), "a " + std::string(gguf_type_name(v->type())) + ", expected f32 or f64");
    return d;
  }

  /// The bytes of a tensor of this file (t.bytes of them), kept alive by the result.
  std::shared_ptr<const std::uint8_t> tensor_data(const gguf_tensor_info& t) const {
    return std::shared_ptr<const std::uint8_t>(data_, data_.get() + data_offset_ + t.offset);
  }

  [[noreturn]] void fail(const std::string& field, const std::string& why) const {
    throw gguf_error("GGUF file '" + name_ + "': " + field + ": " + why);
  }

 private:
  gguf_file(std::shared_ptr<const std::uint8_t> data, std::size_t size, std::string name)
      : data_(std::move(data)), size_(size), name_(std::move(name)) {
    parse();
  }

  const gguf_value* require(std::string_view key) const {
    const gguf_value* v = find(key);
    if (!v) fail(std::string(key), "missing");
    return v;
  }

  void parse() {
    namespace g = detail::gguf;
    g::cursor c(data_.get(), size_, name_);
    if (size_ < 24) c.fail("header", "the file has " + std::to_string(size_) + " bytes, fewer than a GGUF header (24)");
    if (std::memcmp(data_.get(), "GGUF", 4) != 0) c.fail("magic", "not a GGUF file (the first 4 bytes are not GGUF)");
    c.get<std::uint32_t>("magic");
    version_ = c.get<std::uint32_t>("version");
    if (version_ != gguf_version)
      c.fail("version", "version " + std::to_string(version_) + ", this reader reads version " + std::to_string(gguf_version));
    const auto n_tensors = c.get<std::uint64_t>("tensor_count");
    const auto n_meta = c.get<std::uint64_t>("metadata_kv_count");
    // a metadata entry takes at least 13 bytes (key length, type, a 1-byte value), a tensor
    // info at least 32 (name length, n_dims, one dim, type, offset)
    if (n_meta > c.left() / 13)
      c.fail("metadata_kv_count", std::to_string(n_meta) + " entries cannot fit in a file of " + std::to_string(size_) + " bytes");
    if (n_tensors > c.left() / 32)
      c.fail("tensor_count", std::to_string(n_tensors) + " tensors cannot fit in a file of " + std::to_string(size_) + " bytes");
    for (std::uint64_t i = 0; i < n_meta; ++i) {
      const std::string where = "metadata #" + std::to_string(i);
      std::string key = c.str(where + " key");
      if (key.empty()) c.fail(where + " key", "empty key");
      if (!g::valid_utf8(key)) c.fail(where + " key", "not valid UTF-8");
      const auto t = c.get<std::uint32_t>(key + " type");
      if (t > 12) c.fail(key, "unknown value type " + std::to_string(t));
      gguf_value v = g::read_value(c, gguf_type(t), key, 0);
      if (meta_index_.count(key)) c.fail(key, "the key appears twice");
      meta_index_.emplace(key, meta_.size());
      meta_.emplace_back(std::move(key), std::move(v));
    }
    if (const gguf_value* a = find("general.alignment")) {
      if (a->type() != gguf_type::u32) c.fail("general.alignment", "a " + std::string(gguf_type_name(a->type())) + ", expected u32");
      const auto al = std::get<std::uint32_t>(a->data());
      if (al == 0 || (al & (al - 1)) != 0) c.fail("general.alignment", std::to_string(al) + " is not a power of two");
      alignment_ = al;
    }
    for (std::uint64_t i = 0; i < n_tensors; ++i) {
      const std::string where = "tensor #" + std::to_string(i);
      gguf_tensor_info t;
      t.name = c.str(where + " name");
      if (t.name.empty()) c.fail(where + " name", "empty name");
      if (t.name.size() >= 64) c.fail(where + " name", "'" + t.name.substr(0, 64) + "...' is longer than 63 bytes");
      if (!g::valid_utf8(t.name)) c.fail(where + " name", "not valid UTF-8");
      const std::string f = "tensor '" + t.name + "'";
      const auto nd = c.get<std::uint32_t>(f + " n_dims");
      if (nd == 0 || nd > 4) c.fail(f + " n_dims", std::to_string(nd) + " is outside [1, 4]");
      for (std::uint32_t d = 0; d < nd; ++d) {
        const auto v = c.get<std::uint64_t>(f + " dims");
        if (v == 0 || v > (std::uint64_t(1) << 62)) c.fail(f + " dims", "dimension " + std::to_string(d) + " is " + std::to_string(v));
        t.dims.push_back(v);
      }
      const auto ty = c.get<std::uint32_t>(f + " type");
      if (!gguf_tensor_type_known(ty))
        c.fail(f + " type", "ggml type " + std::to_string(ty) + " is not one tern reads (F32 0, F16 1, BF16 30, TQ1_0 34, TQ2_0 35)");
      t.type = gguf_tensor_type(ty);
      t.offset = c.get<std::uint64_t>(f + " offset");
      if (gguf_block_elements(t.type) > 1 && t.dims[0] % gguf_block_elements(t.type) != 0)
        c.fail(f + " dims", "the row length " + std::to_string(t.dims[0]) + " is not a multiple of the " +
                                std::string(gguf_tensor_type_name(t.type)) + " block (256)");
      t.bytes = g::tensor_bytes(t.type, t.dims);
      if (t.bytes == 0) c.fail(f + " dims", "the element count overflows");
      if (t.offset % alignment_ != 0)
        c.fail(f + " offset", std::to_string(t.offset) + " is not a multiple of the alignment " + std::to_string(alignment_));
      if (tensor_index_.count(t.name)) c.fail(f, "the name appears twice");
      tensor_index_.emplace(t.name, tensors_.size());
      tensors_.push_back(std::move(t));
    }
    data_offset_ = (std::uint64_t(c.at()) + alignment_ - 1) / alignment_ * alignment_;
    if (n_tensors > 0 && data_offset_ > size_)
      c.fail("data section", "starts at " + std::to_string(data_offset_) + ", past the end of the file (" + std::to_string(size_) + " bytes)");
    for (std::uint64_t i = c.at(); i < std::min<std::uint64_t>(data_offset_, size_); ++i)
      if (data_.get()[i] != 0) c.fail("padding", "byte " + std::to_string(i) + " before the data section is not zero");
    const std::uint64_t room = size_ >= data_offset_ ? size_ - data_offset_ : 0;
    std::vector<std::size_t> order(tensors_.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    for (const gguf_tensor_info& t : tensors_)
      if (t.offset > room || t.bytes > room - t.offset)
        c.fail("tensor '" + t.name + "' offset", "its bytes [" + std::to_string(t.offset) + ", " + std::to_string(t.offset + t.bytes) +
                                                     ") run past the end of the data section (" + std::to_string(room) + " bytes)");
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return tensors_[a].offset < tensors_[b].offset; });
    for (std::size_t i = 1; i < order.size(); ++i) {
      const gguf_tensor_info &p = tensors_[order[i - 1]], &q = tensors_[order[i]];
      if (q.offset < p.offset + p.bytes)
        c.fail("tensor '" + q.name + "' offset", std::to_string(q.offset) + " overlaps tensor '" + p.name + "' [" +
                                                     std::to_string(p.offset) + ", " + std::to_string(p.offset + p.bytes) + ")");
    }
  }

  std::shared_ptr<const std::uint8_t> data_;
  std::size_t size_ = 0;
  std::string name_;
  std::uint32_t version_ = 0, alignment_ = gguf_default_alignment;
  std::uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, gguf_value>> meta_;
  std::map<std::string, std::size_t> meta_index_;
  std::vector<gguf_tensor_info> tensors_;
  std::map<std::string, std::size_t> tensor_index_;
};

}  // namespace tern
