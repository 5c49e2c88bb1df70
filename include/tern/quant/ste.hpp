#pragma once
// Straight-through estimator policies: how dL/dQ(x) becomes dL/dx.
//
//   ste          dL/dx = dL/dQ(x)                       (the default; scales get no gradient)
//   clipped_ste  dL/dx = dL/dQ(x) * [ |x / s| <= 1 ]     s: the quantizer's clip scale
//                (beta for absmean ternary, gamma for absmax int8, where it never clips)
namespace tern {

struct ste {
  static constexpr bool clipped = false;
};

struct clipped_ste {
  static constexpr bool clipped = true;
};

}  // namespace tern
