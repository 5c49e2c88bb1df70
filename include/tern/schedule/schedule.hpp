#pragma once
// The Schedule concept: the quantization strength lambda for a training step and a layer.
//
//   s.lambda(std::int64_t step, int layer) -> double in [0, 1]
//
// Global schedules ignore the layer; layer_wise gives each layer its own ramp. Steps before
// a ramp starts (negative shifted time) give 0 for every warmup schedule. What the compiler
// cannot check: the result is in [0, 1] and non-decreasing in step for the warmup schedules.
#include <concepts>
#include <cstdint>

namespace tern {

template <class S>
concept Schedule = requires(const S& s, std::int64_t step, int layer) {
  { s.lambda(step, layer) } -> std::convertible_to<double>;
};

}  // namespace tern
