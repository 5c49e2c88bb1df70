#pragma once
// The one error type for bad shapes, and the checks that raise it. Every message names the
// operand and both shapes ("bit_linear::forward: input is 3x5, expected ?x4"), so a user can
// find the mistake without a debugger.
#include <stdexcept>
#include <string>
#include <string_view>

#include "tern/core/matrix.hpp"

namespace tern {

/// Thrown when an operand's shape does not fit the operation. Derives from
/// std::invalid_argument so generic handlers catch it too.
class shape_error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

namespace detail {

inline std::string dim_str(index d) { return d < 0 ? std::string("?") : std::to_string(d); }

inline std::string shape_str(index rows, index cols) { return dim_str(rows) + "x" + dim_str(cols); }

/// Throws shape_error unless `m` is rows x cols; a negative expected dimension matches any.
template <class M>
void check_shape(std::string_view where, std::string_view what, const M& m, index rows, index cols) {
  const bool ok = (rows < 0 || m.rows() == rows) && (cols < 0 || m.cols() == cols);
  if (!ok) {
    throw shape_error(std::string(where) + ": " + std::string(what) + " is " +
                      shape_str(m.rows(), m.cols()) + ", expected " + shape_str(rows, cols));
  }
}

/// Throws shape_error unless `a` and `b` have the same shape.
template <class A, class B>
void check_same_shape(std::string_view where, std::string_view a_name, const A& a,
                      std::string_view b_name, const B& b) {
  if (a.rows() != b.rows() || a.cols() != b.cols()) {
    throw shape_error(std::string(where) + ": " + std::string(a_name) + " is " +
                      shape_str(a.rows(), a.cols()) + " but " + std::string(b_name) + " is " +
                      shape_str(b.rows(), b.cols()) + "; they must match");
  }
}

}  // namespace detail
}  // namespace tern
