#pragma once
// One GGUF metadata value, and the GGUF type codes (value types and tensor types).
//
// GGUF v3 metadata types (u32 tags): 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool,
// 8 string (u64 length + UTF-8 bytes), 9 array (u32 element type + u64 count + elements),
// 10 u64, 11 i64, 12 f64. A gguf_value keeps the exact type it was read or made with, so a
// file written back holds the same types.
// Tensor types tern reads and writes: F32 0, F16 1, BF16 30, TQ1_0 34, TQ2_0 35 (gguf_quants.hpp
// has the block layouts).
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace tern {

/// A GGUF file that cannot be read or written; the message names the file and the field.
class gguf_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class gguf_type : std::uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7,
  string = 8, array = 9, u64 = 10, i64 = 11, f64 = 12,
};

inline std::string_view gguf_type_name(gguf_type t) {
  switch (t) {
    case gguf_type::u8: return "u8";
    case gguf_type::i8: return "i8";
    case gguf_type::u16: return "u16";
    case gguf_type::i16: return "i16";
    case gguf_type::u32: return "u32";
    case gguf_type::i32: return "i32";
    case gguf_type::f32: return "f32";
    case gguf_type::boolean: return "bool";
    case gguf_type::string: return "string";
    case gguf_type::array: return "array";
    case gguf_type::u64: return "u64";
    case gguf_type::i64: return "i64";
    case gguf_type::f64: return "f64";
  }
  return "?";
}

/// Bytes of one value of a fixed-size type (0 for string and array).
inline std::size_t gguf_type_size(gguf_type t) {
  switch (t) {
    case gguf_type::u8: case gguf_type::i8: case gguf_type::boolean: return 1;
    case gguf_type::u16: case gguf_type::i16: return 2;
    case gguf_type::u32: case gguf_type::i32: case gguf_type::f32: return 4;
    case gguf_type::u64: case gguf_type::i64: case gguf_type::f64: return 8;
    default: return 0;
  }
}

/// The tensor types tern reads and writes (ggml's type ids).
enum class gguf_tensor_type : std::uint32_t { f32 = 0, f16 = 1, bf16 = 30, tq1_0 = 34, tq2_0 = 35 };

inline std::string_view gguf_tensor_type_name(gguf_tensor_type t) {
  switch (t) {
    case gguf_tensor_type::f32: return "F32";
    case gguf_tensor_type::f16: return "F16";
    case gguf_tensor_type::bf16: return "BF16";
    case gguf_tensor_type::tq1_0: return "TQ1_0";
    case gguf_tensor_type::tq2_0: return "TQ2_0";
  }
  return "?";
}
inline bool gguf_tensor_type_known(std::uint32_t t) { return t == 0 || t == 1 || t == 30 || t == 34 || t == 35; }
/// Elements per block and bytes per block of a tensor type (F32: 1 and 4).
inline std::size_t gguf_block_elements(gguf_tensor_type t) {
  return t == gguf_tensor_type::tq1_0 || t == gguf_tensor_type::tq2_0 ? 256 : 1;
}
inline std::size_t gguf_block_bytes(gguf_tensor_type t) {
  switch (t) {
    case gguf_tensor_type::f32: return 4;
    case gguf_tensor_type::f16: case gguf_tensor_type::bf16: return 2;
    case gguf_tensor_type::tq1_0: return 54;
    case gguf_tensor_type::tq2_0: return 66;
  }
  return 0;
}

/// One metadata value of any GGUF type. Arrays hold their element type and their elements
/// (every element of that type; an empty array keeps its element type too).
class gguf_value {
 public:
  using array = std::vector<gguf_value>;
  using storage = std::variant<std::uint8_t, std::int8_t, std::uint16_t, std::int16_t, std::uint32_t, std::int32_t, float,
                               bool, std::string, array, std::uint64_t, std::int64_t, double>;

  gguf_value() : v_(std::uint8_t(0)) {}
  gguf_value(std::uint8_t v) : v_(v) {}
  gguf_value(std::int8_t v) : v_(v) {}
  gguf_value(std::uint16_t v) : v_(v) {}
  gguf_value(std::int16_t v) : v_(v) {}
  gguf_value(std::uint32_t v) : v_(v) {}
  gguf_value(std::int32_t v) : v_(v) {}
  gguf_value(float v) : v_(v) {}
  gguf_value(bool v) : v_(v) {}
  gguf_value(std::string v) : v_(std::move(v)) {}
  gguf_value(const char* v) : v_(std::string(v)) {}
  gguf_value(std::uint64_t v) : v_(v) {}
  gguf_value(std::int64_t v) : v_(v) {}
  gguf_value(double v) : v_(v) {}
  /// An array of `element` values; throws std::invalid_argument when an item has another type.
  gguf_value(gguf_type element, array items) : v_(std::move(items)), elem_(element) {
    for (const gguf_value& x : std::get<array>(v_))
      if (x.type() != elem_)
        throw std::invalid_argument("tern::gguf_value: an array of " + std::string(gguf_type_name(element)) +
                                    " holds a " + std::string(gguf_type_name(x.type())));
  }

  gguf_type type() const {
    static constexpr gguf_type by_index[] = {gguf_type::u8,  gguf_type::i8,      gguf_type::u16,    gguf_type::i16,
                                             gguf_type::u32, gguf_type::i32,     gguf_type::f32,    gguf_type::boolean,
                                             gguf_type::string, gguf_type::array, gguf_type::u64, gguf_type::i64,
                                             gguf_type::f64};
    return by_index[v_.index()];
  }
  /// The element type of an array (meaningless for other types).
  gguf_type element_type() const { return elem_; }
  const storage& data() const { return v_; }

  bool is_string() const { return type() == gguf_type::string; }
  bool is_array() const { return type() == gguf_type::array; }
  const std::string& str() const { return std::get<std::string>(v_); }
  const array& items() const { return std::get<array>(v_); }

  /// The value as an unsigned integer when it is an integer type holding a value >= 0
  /// (std::nullopt-like: false on failure).
  bool as_u64(std::uint64_t& out) const {
    return std::visit([&](const auto& x) -> bool {
      using X = std::decay_t<decltype(x)>;
      if constexpr (std::is_integral_v<X> && !std::is_same_v<X, bool>) {
        if constexpr (std::is_signed_v<X>) {
          if (x < 0) return false;
        }
        out = std::uint64_t(x);
        return true;
      } else {
        return false;
      }
    }, v_);
  }
  /// The value as a double when it is f32 or f64 (false otherwise).
  bool as_f64(double& out) const {
    if (const float* f = std::get_if<float>(&v_)) return out = double(*f), true;
    if (const double* d = std::get_if<double>(&v_)) return out = *d, true;
    return false;
  }

  friend bool operator==(const gguf_value& a, const gguf_value& b) {
    if (a.type() != b.type()) return false;
    if (a.is_array() && a.elem_ != b.elem_) return false;
    return a.v_ == b.v_;
  }

 private:
  storage v_;
  gguf_type elem_ = gguf_type::u8;
};

}  // namespace tern
