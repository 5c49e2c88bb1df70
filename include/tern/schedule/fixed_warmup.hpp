#pragma once
// lambda(t) = clamp(t / W, 0, 1) with a fixed number of warmup steps W (default 1000)
// independent of the run's length: the "min(t / 1000, 1)" variant of the public recipe.
// It differs from linear_warmup only in intent (W is not the run length), kept as its own
// type so the two recipes stay distinct in a model's type.
#include "tern/schedule/linear_warmup.hpp"

namespace tern {

struct fixed_warmup {
  linear_warmup ramp;

  explicit fixed_warmup(std::int64_t warmup_steps = 1000) : ramp(warmup_steps) {}
  double lambda(std::int64_t t, int layer) const { return ramp.lambda(t, layer); }
};

static_assert(Schedule<fixed_warmup>);

}  // namespace tern
