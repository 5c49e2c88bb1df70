#pragma once
// Writes a GGUF v3 file (the layout is in gguf_file.hpp): metadata in the order it was set,
// tensor infos in the order they were added, each tensor's data at the next multiple of the
// alignment (general.alignment when set as a u32, else 32), zero padding between.
//
//   gguf_writer w;
//   w.set("general.architecture", "llama");
//   w.add_tensor("token_embd.weight", {dim, vocab}, gguf_tensor_type::f32, std::move(bytes));
//   w.write(path);   // through path + ".tmp", renamed once complete
//
// Every call checks what it is given (key and name rules, dims, the byte count the type and
// dims need) and throws gguf_error naming the key or tensor, so a file written is one
// gguf_file reads back.
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <map>
#include <type_traits>
#include <variant>
#include <string>
#include <utility>
#include <vector>

#include "tern/io/atomic_file_writer.hpp"
#include "tern/io/gguf_file.hpp"
#include "tern/io/gguf_value.hpp"

namespace tern {

class gguf_writer {
 public:
  /// Sets (or replaces) a metadata value; general.alignment must be a u32 power of two.
  void set(const std::string& key, gguf_value v) {
    if (key.empty() || !detail::gguf::valid_utf8(key)) throw gguf_error("gguf_writer: the key '" + key + "' is empty or not UTF-8");
    if (key == "general.alignment") {
      if (v.type() != gguf_type::u32) throw gguf_error("gguf_writer: general.alignment must be a u32");
      const auto a = std::get<std::uint32_t>(v.data());
      if (a == 0 || (a & (a - 1)) != 0) throw gguf_error("gguf_writer: general.alignment " + std::to_string(a) + " is not a power of two");
      alignment_ = a;
    }
    auto it = index_.find(key);
    if (it != index_.end()) {
      meta_[it->second].second = std::move(v);
      return;
    }
    index_.emplace(key, meta_.size());
    meta_.emplace_back(key, std::move(v));
  }

  /// Adds a tensor: dims innermost first, bytes exactly what the type and dims take.
  void add_tensor(const std::string& name, std::vector<std::uint64_t> dims, gguf_tensor_type type, std::vector<std::uint8_t> bytes) {
    const std::string f = "gguf_writer: tensor '" + name + "'";
    if (name.empty() || name.size() >= 64 || !detail::gguf::valid_utf8(name))
      throw gguf_error(f + ": a name must be 1 to 63 bytes of UTF-8");
    if (names_.count(name)) throw gguf_error(f + ": added twice");
    if (dims.empty() || dims.size() > 4) throw gguf_error(f + ": " + std::to_string(dims.size()) + " dims, expected 1 to 4");
    for (auto d : dims)
      if (d == 0) throw gguf_error(f + ": a dimension is 0");
    if (gguf_block_elements(type) > 1 && dims[0] % gguf_block_elements(type) != 0)
      throw gguf_error(f + ": the row length " + std::to_string(dims[0]) + " is not a multiple of the " +
                       std::string(gguf_tensor_type_name(type)) + " block (256)");
    const std::uint64_t need = detail::gguf::tensor_bytes(type, dims);
    if (need == 0 || bytes.size() != need)
      throw gguf_error(f + ": " + std::to_string(bytes.size()) + " bytes given, " + std::string(gguf_tensor_type_name(type)) +
                       " of these dims takes " + std::to_string(need));
    names_.emplace(name, tensors_.size());
    tensors_.push_back({name, std::move(dims), type, std::move(bytes)});
  }

  std::uint32_t alignment() const { return alignment_; }
  std::size_t tensor_count() const { return tensors_.size(); }

  /// The whole file as bytes (what write() stores).
  std::vector<std::uint8_t> bytes() const {
    std::vector<std::uint8_t> out;
    emit([&](const void* p, std::size_t n) {
      const auto* b = static_cast<const std::uint8_t*>(p);
      out.insert(out.end(), b, b + n);
    });
    return out;
  }

  /// Writes the file (atomically: path + ".tmp", renamed on success); throws gguf_error.
  void write(const std::string& path) const {
    try {
      atomic_file_writer out(path, "gguf_writer");
      emit([&](const void* p, std::size_t n) { out.write(p, n); });
      out.commit();
    } catch (const gguf_error&) {
      throw;
    } catch (const std::exception& e) {
      throw gguf_error(e.what());
    }
  }

  /// Offsets (from the data section) the tensors get, in the order added.
  std::vector<std::uint64_t> offsets() const {
    std::vector<std::uint64_t> o;
    std::uint64_t at = 0;
    for (const auto& t : tensors_) {
      o.push_back(at);
      at = align(at + t.bytes.size());
    }
    return o;
  }

 private:
  struct tensor {
    std::string name;
    std::vector<std::uint64_t> dims;
    gguf_tensor_type type;
    std::vector<std::uint8_t> bytes;
  };

  std::uint64_t align(std::uint64_t n) const { return (n + alignment_ - 1) / alignment_ * alignment_; }

  static void put_value(std::vector<std::uint8_t>& h, const gguf_value& v) {
    std::visit([&](const auto& x) {
      using X = std::decay_t<decltype(x)>;
      if constexpr (std::is_same_v<X, std::string>) {
        put(h, std::uint64_t(x.size()));
        h.insert(h.end(), x.begin(), x.end());
      } else if constexpr (std::is_same_v<X, gguf_value::array>) {
        put(h, std::uint32_t(v.element_type()));
        put(h, std::uint64_t(x.size()));
        for (const gguf_value& e : x) put_value(h, e);
      } else if constexpr (std::is_same_v<X, bool>) {
        h.push_back(x ? 1 : 0);
      } else {
        put(h, x);
      }
    }, v.data());
  }
  template <class V>
  static void put(std::vector<std::uint8_t>& h, V v) {
    const auto* b = reinterpret_cast<const std::uint8_t*>(&v);
    h.insert(h.end(), b, b + sizeof(V));
  }
  static void put_str(std::vector<std::uint8_t>& h, const std::string& s) {
    put(h, std::uint64_t(s.size()));
    h.insert(h.end(), s.begin(), s.end());
  }

  template <class Sink>
  void emit(Sink&& sink) const {
    std::vector<std::uint8_t> h;
    h.insert(h.end(), {'G', 'G', 'U', 'F'});
    put(h, gguf_version);
    put(h, std::uint64_t(tensors_.size()));
    put(h, std::uint64_t(meta_.size()));
    for (const auto& [k, v] : meta_) {
      put_str(h, k);
      put(h, std::uint32_t(v.type()));
      put_value(h, v);
    }
    const std::vector<std::uint64_t> off = offsets();
    for (std::size_t i = 0; i < tensors_.size(); ++i) {
      const tensor& t = tensors_[i];
      put_str(h, t.name);
      put(h, std::uint32_t(t.dims.size()));
      for (auto d : t.dims) put(h, d);
      put(h, std::uint32_t(t.type));
      put(h, off[i]);
    }
    h.resize(std::size_t(align(h.size())), 0);
    sink(h.data(), h.size());
    static const std::uint8_t zeros[256] = {};
    std::uint64_t at = 0;
    for (std::size_t i = 0; i < tensors_.size(); ++i) {
      sink(tensors_[i].bytes.data(), tensors_[i].bytes.size());
      at += tensors_[i].bytes.size();
      if (i + 1 < tensors_.size()) {
        for (std::uint64_t pad = align(at) - at; pad > 0;) {
          const std::size_t n = std::size_t(std::min<std::uint64_t>(pad, sizeof zeros));
          sink(zeros, n);
          pad -= n;
        }
        at = align(at);
      }
    }
  }

  std::vector<std::pair<std::string, gguf_value>> meta_;
  std::map<std::string, std::size_t> index_;
  std::vector<tensor> tensors_;
  std::map<std::string, std::size_t> names_;
  std::uint32_t alignment_ = gguf_default_alignment;
};

}  // namespace tern
