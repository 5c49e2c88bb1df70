#pragma once
// The key/value cache of one generation: for every layer, the rotated keys and the values of
// every position seen so far, so a decode step attends to them without recomputing them.
//
// Layout: per layer two arrays of capacity x kv_dim floats (kv_dim = n_kv_heads * head_dim),
// position p at row p; keys are stored after RoPE. size() positions are filled; forward appends
// at size() and advances it after the last layer. A cache belongs to one generation (one
// thread): the frozen model it is used with is shared and never written.
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "tern/core/matrix.hpp"

namespace tern::infer {

class kv_cache {
 public:
  kv_cache() = default;
  /// n_layers layers of `capacity` positions of kv_dim keys and values.
  kv_cache(index n_layers, index capacity, index kv_dim) : layers_(n_layers), capacity_(capacity), kv_dim_(kv_dim) {
    if (n_layers <= 0 || capacity <= 0 || kv_dim <= 0)
      throw std::invalid_argument("tern::infer::kv_cache: layers, capacity and kv_dim must be positive");
    const std::size_t per = static_cast<std::size_t>(capacity) * static_cast<std::size_t>(kv_dim);
    k_.assign(static_cast<std::size_t>(n_layers) * per, 0.0f);
    v_.assign(static_cast<std::size_t>(n_layers) * per, 0.0f);
  }

  index layers() const { return layers_; }
  index capacity() const { return capacity_; }
  index kv_dim() const { return kv_dim_; }
  /// Positions filled.
  index size() const { return size_; }
  /// Positions still free.
  index free() const { return capacity_ - size_; }

  /// Forgets every position (the storage stays).
  void clear() { size_ = 0; }
  /// Keeps the first n positions (n <= size()).
  void truncate(index n) {
    if (n < 0 || n > size_) throw std::out_of_range("tern::infer::kv_cache::truncate: " + std::to_string(n) + " is outside [0, size]");
    size_ = n;
  }

  float* keys(index layer, index pos) { return k_.data() + offset(layer, pos); }
  float* values(index layer, index pos) { return v_.data() + offset(layer, pos); }
  const float* keys(index layer, index pos) const { return k_.data() + offset(layer, pos); }
  const float* values(index layer, index pos) const { return v_.data() + offset(layer, pos); }

  /// Marks n more positions filled (after every layer wrote them).
  void advance(index n) {
    if (n < 0 || n > free()) throw std::out_of_range("tern::infer::kv_cache::advance: no room for " + std::to_string(n) + " positions");
    size_ += n;
  }

  /// Bytes of keys and values a decode step at the current size reads.
  std::size_t bytes_in_use() const {
    return 2 * static_cast<std::size_t>(layers_) * static_cast<std::size_t>(size_) * static_cast<std::size_t>(kv_dim_) * sizeof(float);
  }

 private:
  std::size_t offset(index layer, index pos) const {
    return (static_cast<std::size_t>(layer) * static_cast<std::size_t>(capacity_) + static_cast<std::size_t>(pos)) *
           static_cast<std::size_t>(kv_dim_);
  }
  index layers_ = 0, capacity_ = 0, kv_dim_ = 0, size_ = 0;
  std::vector<float> k_, v_;
};

}  // namespace tern::infer
