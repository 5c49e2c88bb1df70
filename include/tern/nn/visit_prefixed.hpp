#pragma once
// How composite layers, built in or user-written, name their children's parameters:
// "<prefix>.<child name>", so a model's parameters read "layers.3.attn.q.weight" (the Layer
// concept's naming rule).
#include <string>
#include <string_view>

namespace tern {

/// Calls child.for_each_parameter, forwarding each (name, parameter) to f as
/// (prefix + "." + name, parameter).
template <class Child, class F>
void visit_prefixed(Child& child, std::string_view prefix, F& f) {
  child.for_each_parameter([&](std::string_view name, auto& p) {
    std::string full;
    full.reserve(prefix.size() + 1 + name.size());
    full.append(prefix).append(".").append(name);
    f(std::string_view(full), p);
  });
}

}  // namespace tern
