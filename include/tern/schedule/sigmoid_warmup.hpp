#pragma once
// Sigmoid ramp s(u) = 1 / (1 + exp(-k (u - 1/2))), u = clamp(t / T, 0, 1), rescaled so the
// endpoints are exact:  lambda(t) = (s(u) - s(0)) / (s(1) - s(0)).
// The raw public form starts at s(0) > 0 (0.0067 for k = 10) and never reaches 1; the
// rescaling keeps its shape and makes lambda = 0 at the start and 1 at T.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "tern/schedule/schedule.hpp"

namespace tern {

struct sigmoid_warmup {
  std::int64_t steps;
  double k;

  sigmoid_warmup(std::int64_t t, double k_ = 10.0) : steps(t), k(k_) {
    if (t <= 0) throw std::invalid_argument("sigmoid_warmup: steps = " + std::to_string(t) + " must be positive");
    if (!(k_ >= 1e-3 && k_ <= 700.0))  // below: s(1) - s(0) vanishes; above: exp overflows
      throw std::invalid_argument("sigmoid_warmup: k = " + std::to_string(k_) + " must be in [0.001, 700]");
  }
  double lambda(std::int64_t t, int) const {
    const double u = std::clamp(double(t) / double(steps), 0.0, 1.0);
    const auto s = [this](double v) { return 1.0 / (1.0 + std::exp(-k * (v - 0.5))); };
    return std::clamp((s(u) - s(0.0)) / (s(1.0) - s(0.0)), 0.0, 1.0);
  }
};

static_assert(Schedule<sigmoid_warmup>);

}  // namespace tern
