#pragma once
// Strict command-line numbers for the example programs: the whole text must be the number
// (std::from_chars: no sign on unsigned values, no spaces, no trailing characters, finite reals),
// and ranges are checked with the reason for the bound in the message.
#include <charconv>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace tern_cli {

/// The whole of `text` as a V (std::from_chars: no sign on unsigned values, no spaces, no
/// trailing characters); non-finite floating-point values are refused too.
template <class V>
V parse_number(const std::string& opt, const std::string& text) {
  V v{};
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (ec == std::errc::result_out_of_range)
    throw std::invalid_argument("option " + opt + ": '" + text + "' is out of the representable range");
  if (ec != std::errc() || ptr != end || text.empty())
    throw std::invalid_argument("option " + opt + ": '" + text + "' is not a valid " +
                                (std::is_integral_v<V> ? (std::is_signed_v<V> ? "integer" : "non-negative integer")
                                                       : "number"));
  if constexpr (std::is_floating_point_v<V>)
    if (!std::isfinite(v)) throw std::invalid_argument("option " + opt + ": '" + text + "' is not finite");
  return v;
}

/// Throws unless lo <= v <= hi; `why` says where the bound comes from.
template <class V>
void check_range(const char* opt, V v, V lo, V hi, const char* why) {
  if (!(v >= lo && v <= hi)) {
    std::ostringstream msg;
    msg << "option " << opt << " must be in [" << lo << ", " << hi << "], got " << v << " (" << why << ")";
    throw std::invalid_argument(msg.str());
  }
}
/// The same for a range open at lo: lo < v <= hi.
template <class V>
void check_above(const char* opt, V v, V lo, V hi, const char* why) {
  if (!(v > lo && v <= hi)) {
    std::ostringstream msg;
    msg << "option " << opt << " must be in (" << lo << ", " << hi << "], got " << v << " (" << why << ")";
    throw std::invalid_argument(msg.str());
  }
}

}  // namespace tern_cli
