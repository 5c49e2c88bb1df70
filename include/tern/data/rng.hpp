#pragma once
// tern's random number generator: xoshiro256** (Blackman & Vigna), seeded through splitmix64.
//
// Why not std::mt19937 + std::uniform_int_distribution: the standard distributions are not
// specified bit for bit, so the same seed could give different batches with another standard
// library. This generator and its helpers are fully specified here, and its whole state is
// four 64-bit words that checkpoints store, so a resumed run draws exactly the same numbers.
#include <array>
#include <cmath>
#include <cstdint>
#include <stdexcept>

namespace tern {

class rng {
 public:
  using state_type = std::array<std::uint64_t, 4>;

  explicit rng(std::uint64_t seed = 0) { reseed(seed); }

  /// Resets the state from a 64-bit seed (splitmix64 expansion, never the all-zero state).
  void reseed(std::uint64_t seed) {
    for (auto& w : s_) {
      seed += 0x9e3779b97f4a7c15ULL;
      std::uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      w = z ^ (z >> 31);
    }
  }

  /// Next 64 random bits.
  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  /// Uniform integer in [0, n), n >= 1, without modulo bias: draws below 2^64 mod n are
  /// rejected, so the accepted range is a whole number of copies of [0, n).
  std::uint64_t below(std::uint64_t n) {
    if (n == 0) throw std::invalid_argument("rng::below: n must be at least 1");
    const std::uint64_t threshold = (0 - n) % n;  // 2^64 mod n
    for (;;) {
      const std::uint64_t x = next();
      if (x >= threshold) return x % n;
    }
  }

  /// Uniform double in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  /// Standard normal (Box-Muller; uses two uniforms per call, no cached spare, so the state
  /// alone determines the stream).
  double normal() {
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

  const state_type& state() const { return s_; }
  void set_state(const state_type& s) {
    if (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0)
      throw std::invalid_argument("rng::set_state: the all-zero state is invalid for xoshiro256**");
    s_ = s;
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  state_type s_{};
};

}  // namespace tern
