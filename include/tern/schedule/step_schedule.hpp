#pragma once
// Discrete steps: lambda is piecewise constant, lambda(t) = value of the last point with
// point.step <= t (0 before the first point). Points must be given in increasing step
// order with values in [0, 1], e.g. {{0, 0.25}, {100, 0.5}, {200, 1.0}}.
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

#include "tern/schedule/schedule.hpp"

namespace tern {

struct step_schedule {
  struct point {
    std::int64_t step;
    double value;
  };
  std::vector<point> points;

  step_schedule(std::initializer_list<point> pts) : step_schedule(std::vector<point>(pts)) {}
  explicit step_schedule(std::vector<point> pts) : points(std::move(pts)) {
    for (std::size_t i = 0; i < points.size(); ++i) {
      if (!(points[i].value >= 0.0 && points[i].value <= 1.0))
        throw std::invalid_argument("step_schedule: points[" + std::to_string(i) + "].value = " +
                                    std::to_string(points[i].value) + " is outside [0, 1]");
      if (i > 0 && points[i].step <= points[i - 1].step)
        throw std::invalid_argument("step_schedule: points[" + std::to_string(i) + "].step = " +
                                    std::to_string(points[i].step) + " is not after points[" +
                                    std::to_string(i - 1) + "].step = " + std::to_string(points[i - 1].step));
    }
  }
  double lambda(std::int64_t t, int) const {
    double v = 0.0;
    for (const auto& p : points) {
      if (p.step > t) break;
      v = p.value;
    }
    return v;
  }
};

static_assert(Schedule<step_schedule>);

}  // namespace tern
