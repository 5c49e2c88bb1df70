#pragma once
// lambda(t) = 1 - (1 - u)^k, u = clamp(t / T, 0, 1): fast at first, gentle near 1 (k > 1).
// k = 1 is the linear ramp.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "tern/schedule/schedule.hpp"

namespace tern {

struct exponential_warmup {
  std::int64_t steps;
  double k;

  exponential_warmup(std::int64_t t, double k_ = 5.0) : steps(t), k(k_) {
    if (t <= 0) throw std::invalid_argument("exponential_warmup: steps = " + std::to_string(t) + " must be positive");
    if (!(k_ > 0.0)) throw std::invalid_argument("exponential_warmup: k = " + std::to_string(k_) + " must be positive");
  }
  double lambda(std::int64_t t, int) const {
    const double u = std::clamp(double(t) / double(steps), 0.0, 1.0);
    return 1.0 - std::pow(1.0 - u, k);
  }
};

static_assert(Schedule<exponential_warmup>);

}  // namespace tern
