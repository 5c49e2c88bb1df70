#pragma once
// lambda(t) = value for every step and layer. constant_lambda{1.0} is the abrupt baseline
// (fully quantized from step 0); constant_lambda{0.0} trains in full precision.
#include <stdexcept>
#include <string>

#include "tern/schedule/schedule.hpp"

namespace tern {

struct constant_lambda {
  double value = 1.0;

  explicit constant_lambda(double v = 1.0) : value(v) {
    if (!(v >= 0.0 && v <= 1.0))
      throw std::invalid_argument("constant_lambda: value = " + std::to_string(v) + " is outside [0, 1]");
  }
  double lambda(std::int64_t, int) const { return value; }
};

static_assert(Schedule<constant_lambda>);

}  // namespace tern
