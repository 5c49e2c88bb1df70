#pragma once
// lambda(t) = clamp(t / T, 0, 1): a linear ramp over `steps` (T) steps, usually the run's
// whole length (the Hugging Face recipe's `min(t / T, 1)`).
#include <algorithm>
#include <stdexcept>
#include <string>

#include "tern/schedule/schedule.hpp"

namespace tern {

struct linear_warmup {
  std::int64_t steps;

  explicit linear_warmup(std::int64_t t) : steps(t) {
    if (t <= 0) throw std::invalid_argument("linear_warmup: steps = " + std::to_string(t) + " must be positive");
  }
  double lambda(std::int64_t t, int) const {
    return std::clamp(double(t) / double(steps), 0.0, 1.0);
  }
};

static_assert(Schedule<linear_warmup>);

}  // namespace tern
