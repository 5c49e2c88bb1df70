#pragma once
// The Layer concept: what tern's training code (optimizers, clipping, checkpoints, models)
// needs from any layer, built in or user-written.
//
//   typename L::scalar                     float or double
//   l.forward(x)  -> matrix<scalar>        training forward; may cache what backward needs
//   l.backward(dy) -> matrix<scalar>       returns dL/dx, ACCUMULATES into parameter grads;
//                                          valid only after forward on the same input
//   l.for_each_parameter(f)                calls f(std::string_view name, parameter<scalar>&)
//                                          for every learnable tensor, in a fixed order
//
// What the compiler cannot check: backward must be called after forward, the visiting order
// must be stable (checkpoints and optimizer state rely on it), and names must be unique
// within a layer (composite layers prefix their children's names with "child.").
#include <concepts>
#include <string_view>

#include "tern/core/matrix.hpp"
#include "tern/core/parameter.hpp"

namespace tern {

namespace detail {
template <class T>
struct parameter_visitor_archetype {
  void operator()(std::string_view, parameter<T>&) const {}
};
}  // namespace detail

template <class L>
concept Layer = requires(L& l, const matrix<typename L::scalar>& x,
                         detail::parameter_visitor_archetype<typename L::scalar> f) {
  typename L::scalar;
  { l.forward(x) } -> std::same_as<matrix<typename L::scalar>>;
  { l.backward(x) } -> std::same_as<matrix<typename L::scalar>>;
  l.for_each_parameter(f);
};

/// Zeroes every parameter gradient of a layer.
template <Layer L>
void zero_grad(L& l) {
  l.for_each_parameter([](std::string_view, auto& p) { p.zero_grad(); });
}

}  // namespace tern
