#pragma once
// A normal sampler whose output depends only on the seed: std::normal_distribution's
// algorithm is implementation-defined (libstdc++ and libc++ differ), so tern uses its own.
// Uniforms come from std::mt19937_64 (fully specified by the standard), 53 bits per draw;
// normals from Marsaglia's polar method (only +, *, /, sqrt and log; IEEE-exact except log,
// which glibc and the other common libms compute to within one ulp, correctly rounded in
// practice for these arguments).
#include <cmath>
#include <cstdint>
#include <random>

namespace tern::detail {

class normal_sampler {
 public:
  explicit normal_sampler(std::uint64_t seed) : gen_(seed) {}

  /// A uniform double in [0, 1) with 53 random bits.
  double uniform() { return double(gen_() >> 11) * 0x1.0p-53; }

  /// A standard normal draw N(0, 1).
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    for (;;) {
      const double u = 2.0 * uniform() - 1.0, v = 2.0 * uniform() - 1.0;
      const double s = u * u + v * v;
      if (s >= 1.0 || s == 0.0) continue;
      const double f = std::sqrt(-2.0 * std::log(s) / s);
      spare_ = v * f;
      has_spare_ = true;
      return u * f;
    }
  }

 private:
  std::mt19937_64 gen_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace tern::detail
