#pragma once
// Rounding policies for the quantizers. PyTorch's torch.round, and so the reference BitNet
// code, rounds half to even; C's roundf rounds half away from zero; some SIMD kernels round
// half up (toward +infinity). The policy is a type so a quantizer's rounding is part of its
// type. Each is exact for every finite float (no `floor(x + 0.5)` double-rounding trap) and
// returns NaN for NaN.
//
// apply(x) is the scalar definition; apply_array(a) is the same function on an Eigen array
// expression, vectorized, and equal to apply element for element (tested). round_half_even's
// array form is Eigen's rint(), which rounds half to even in the default floating-point
// environment (FE_TONEAREST); tern assumes the rounding mode is never changed.
#include <cmath>

namespace tern {

/// Round half to even (banker's rounding): 0.5 -> 0, 1.5 -> 2, -2.5 -> -2. The default.
struct round_half_even {
  template <class T>
  static T apply(T x) {
    const T f = std::floor(x);
    const T d = x - f;  // exact for floating point, in [0, 1)
    if (d > T(0.5)) return f + T(1);
    if (d < T(0.5)) return f;
    return std::fmod(f, T(2)) == T(0) ? f : f + T(1);
  }
  template <class A>
  static auto apply_array(const A& a) { return a.rint(); }
};

/// Round half up, toward +infinity: 0.5 -> 1, -0.5 -> 0, -1.5 -> -1.
struct round_half_up {
  template <class T>
  static T apply(T x) {
    const T f = std::floor(x);
    return (x - f) >= T(0.5) ? f + T(1) : f;
  }
  template <class A>
  static auto apply_array(const A& a) {
    using T = typename A::Scalar;
    const auto f = a.floor();
    return ((a - f) >= T(0.5)).select(f + T(1), f);
  }
};

/// Round half away from zero (C's round): 0.5 -> 1, -0.5 -> -1.
struct round_half_away {
  template <class T>
  static T apply(T x) { return std::round(x); }
  template <class A>
  static auto apply_array(const A& a) { return a.round(); }
};

}  // namespace tern
