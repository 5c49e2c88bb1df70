#pragma once
// The Parameterized concept: all that optimizers, clipping and checkpoints need from a model.
//
//   typename M::scalar               float or double
//   m.for_each_parameter(f)          calls f(std::string_view name, parameter<scalar>&) for every
//                                    learnable tensor, in a fixed order, with unique names
//
// Every Layer (core/layer.hpp) is Parameterized; so is a whole model such as
// tern::transformer, whose forward takes token ids rather than a matrix and so is not a Layer.
// What the compiler cannot check: the order and names are stable from call to call (AdamW's
// state and checkpoints are matched against them).
#include <concepts>
#include <string_view>

#include "tern/core/layer.hpp"
#include "tern/core/parameter.hpp"

namespace tern {

template <class M>
concept Parameterized = requires(M& m, detail::parameter_visitor_archetype<typename M::scalar> f) {
  typename M::scalar;
  m.for_each_parameter(f);
};

/// Zeroes every parameter gradient of a Parameterized model.
template <Parameterized M>
void zero_parameter_grads(M& m) {
  m.for_each_parameter([](std::string_view, parameter<typename M::scalar>& p) { p.zero_grad(); });
}

}  // namespace tern
