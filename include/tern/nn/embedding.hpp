#pragma once
// Token embedding: a lookup table from token ids to rows of a learned (vocab x dim) matrix.
//
//   forward   y(r, :) = E(t_r, :)                      for each token t_r, r = 0 .. N-1
//   backward  dE(t_r, :) += dy(r, :)                   rows of the same token sum
//
// Tokens carry no gradient, so backward returns nothing. Forward caches the token ids.
// Bad token ids (negative or >= vocab) throw std::out_of_range naming the position and id.
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tern/core/matrix.hpp"
#include "tern/core/parameter.hpp"
#include "tern/core/shape_error.hpp"

namespace tern {

/// Token id type used across tern's models (byte-level vocabularies fit easily).
using token = std::int32_t;

/// T: scalar type (float for use, double for gradient checks).
template <class T>
class embedding {
 public:
  using scalar = T;

  // ---- parameters ----
  /// weight: vocab x dim, row t is token t's vector. Zero until initialised by the caller.
  embedding(index vocab, index dim) : weight_(matrix<T>::Zero(vocab, dim)) {
    if (vocab <= 0 || dim <= 0)
      throw std::invalid_argument("embedding: vocab and dim must be positive, got vocab=" +
                                  std::to_string(vocab) + " dim=" + std::to_string(dim));
  }

  index vocab() const { return weight_.value.rows(); }
  index dim() const { return weight_.value.cols(); }
  parameter<T>& weight() { return weight_; }
  const parameter<T>& weight() const { return weight_; }

  template <class F>
  void for_each_parameter(F&& f) {
    f(std::string_view("weight"), weight_);
  }

  // ---- forward: caches the ids ----
  matrix<T> forward(std::span<const token> tokens) {
    const index v = vocab();
    for (std::size_t r = 0; r < tokens.size(); ++r) {
      if (tokens[r] < 0 || tokens[r] >= v)
        throw std::out_of_range("embedding::forward: token " + std::to_string(tokens[r]) +
                                " at position " + std::to_string(r) + " is outside [0, " +
                                std::to_string(v) + ")");
    }
    tokens_.assign(tokens.begin(), tokens.end());
    has_cache_ = true;
    matrix<T> y(index(tokens.size()), dim());
    for (index r = 0; r < y.rows(); ++r) y.row(r) = weight_.value.row(tokens_[std::size_t(r)]);
    return y;
  }

  // ---- backward: scatter-add into the rows of dE (accumulates) ----
  void backward(const matrix<T>& dy) {
    if (!has_cache_) throw std::logic_error("embedding::backward: called before forward");
    detail::check_shape("embedding::backward", "dy", dy, index(tokens_.size()), dim());
    for (index r = 0; r < dy.rows(); ++r) weight_.grad.row(tokens_[std::size_t(r)]) += dy.row(r);
  }

 private:
  parameter<T> weight_;
  std::vector<token> tokens_;
  bool has_cache_ = false;
};

}  // namespace tern
