#pragma once
// Layer-wise gradual quantization: every layer runs the same ramp, shifted in time by its
// position in a quantization order.
//
//   lambda_l(t) = Ramp.lambda(t - start - pos(l) * delay, l)
//
// With Ramp = linear_warmup{T} this is METHOD's clamp((t - t0 - pos(l) * D) / T, 0, 1).
// pos(l) is the layer's place in the order:
//   layer_order::first_to_last   pos(l) = l            (the input side quantizes first)
//   layer_order::last_to_first   pos(l) = L - 1 - l
//   an explicit list              pos(l) = index of l in the list (a permutation of 0..L-1)
// The last layer reaches lambda = 1 at step start + (L - 1) * delay + T.
//
// Template parameter Ramp: any Schedule; it receives the shifted step (negative before the
// layer's start, where warmup ramps give 0).
#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "tern/schedule/linear_warmup.hpp"
#include "tern/schedule/schedule.hpp"

namespace tern {

enum class layer_order { first_to_last, last_to_first };

template <Schedule Ramp = linear_warmup>
class layer_wise {
 public:
  /// n_layers layers in the given order; layer pos(l) starts at start + pos(l) * delay.
  layer_wise(Ramp ramp, int n_layers, std::int64_t start, std::int64_t delay,
             layer_order order = layer_order::first_to_last)
      : ramp_(std::move(ramp)), start_(start), delay_(delay) {
    check(n_layers, delay);
    pos_.resize(std::size_t(n_layers));
    for (int l = 0; l < n_layers; ++l)
      pos_[std::size_t(l)] = order == layer_order::first_to_last ? l : n_layers - 1 - l;
  }

  /// An explicit order: order[k] is the k-th layer to quantize (a permutation of 0..L-1).
  layer_wise(Ramp ramp, std::vector<int> order, std::int64_t start, std::int64_t delay)
      : ramp_(std::move(ramp)), start_(start), delay_(delay) {
    const int n = int(order.size());
    check(n, delay);
    pos_.assign(std::size_t(n), -1);
    for (int k = 0; k < n; ++k) {
      const int l = order[std::size_t(k)];
      if (l < 0 || l >= n)
        throw std::invalid_argument("layer_wise: order[" + std::to_string(k) + "] = " + std::to_string(l) +
                                    " is not a layer index in [0, " + std::to_string(n) + ")");
      if (pos_[std::size_t(l)] >= 0)
        throw std::invalid_argument("layer_wise: order lists layer " + std::to_string(l) + " twice");
      pos_[std::size_t(l)] = k;
    }
  }

  int layers() const { return int(pos_.size()); }
  int position(int layer) const {
    if (layer < 0 || layer >= layers())
      throw std::out_of_range("layer_wise: layer " + std::to_string(layer) + " is not in [0, " +
                              std::to_string(layers()) + ")");
    return pos_[std::size_t(layer)];
  }

  double lambda(std::int64_t t, int layer) const {
    return ramp_.lambda(t - start_ - std::int64_t(position(layer)) * delay_, layer);
  }

 private:
  static void check(int n, std::int64_t delay) {
    if (n <= 0) throw std::invalid_argument("layer_wise: n_layers = " + std::to_string(n) + " must be positive");
    if (delay < 0) throw std::invalid_argument("layer_wise: delay = " + std::to_string(delay) + " must not be negative");
    if (delay > std::numeric_limits<std::int64_t>::max() / 4 / n)
      throw std::invalid_argument("layer_wise: delay = " + std::to_string(delay) + " times " + std::to_string(n) +
                                  " layers overflows the step counter");
  }

  Ramp ramp_;
  std::int64_t start_, delay_;
  std::vector<int> pos_;  // pos_[l]: place of layer l in the quantization order
};

static_assert(Schedule<layer_wise<>>);

}  // namespace tern
