#pragma once
// Learning-rate schedule: linear warmup, then cosine decay to a floor.
//
//   t <  W:        lr(t) = peak * (t + 1) / W
//   W <= t <= T:   lr(t) = floor + (peak - floor) * (1 + cos(pi * (t - W) / (T - W))) / 2
//   t >  T:        lr(t) = floor
// with t the 0-based step, W = warmup steps, T = total steps - 1 (the last step), so the first
// step after warmup runs at peak and the last step of the run at floor. W = 0 means no warmup.
#include <cmath>
#include <cstdint>
#include <numbers>
#include <stdexcept>
#include <string>

namespace tern {

class lr_schedule {
 public:
  lr_schedule(double peak, std::int64_t warmup_steps, std::int64_t total_steps, double floor = 0.0)
      : peak_(peak), floor_(floor), warmup_(warmup_steps), total_(total_steps) {
    if (!(peak > 0) || !std::isfinite(peak)) throw std::invalid_argument("lr_schedule: peak must be finite and > 0");
    if (!(floor >= 0) || floor > peak) throw std::invalid_argument("lr_schedule: floor must be in [0, peak]");
    if (warmup_steps < 0) throw std::invalid_argument("lr_schedule: warmup_steps must be >= 0");
    if (total_steps < 1) throw std::invalid_argument("lr_schedule: total_steps must be >= 1");
    if (warmup_steps > total_steps)
      throw std::invalid_argument("lr_schedule: warmup_steps (" + std::to_string(warmup_steps) +
                                  ") exceeds total_steps (" + std::to_string(total_steps) + ")");
  }

  double operator()(std::int64_t t) const {
    if (t < warmup_) return peak_ * static_cast<double>(t + 1) / static_cast<double>(warmup_);
    const std::int64_t last = total_ - 1;
    if (t >= last) return t == last && last == warmup_ ? peak_ : floor_;
    const double progress = static_cast<double>(t - warmup_) / static_cast<double>(last - warmup_);
    return floor_ + (peak_ - floor_) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
  }

  double peak() const { return peak_; }
  double floor() const { return floor_; }
  std::int64_t warmup_steps() const { return warmup_; }
  std::int64_t total_steps() const { return total_; }

 private:
  double peak_, floor_;
  std::int64_t warmup_, total_;
};

}  // namespace tern
