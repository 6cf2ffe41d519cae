#pragma once

#include <chrono>
#include <cmath>

namespace processpype {

/// `seconds` (a number from a configuration or an option) as a `Duration`,
/// truncated toward zero as std::chrono::duration_cast does. Past the range
/// of `Duration` it saturates at Duration::min() or max(), where the cast
/// would be undefined; NaN is zero.
template <class Duration = std::chrono::nanoseconds>
Duration to_duration(double seconds) noexcept {
  using Rep = typename Duration::rep;
  static_assert(!std::chrono::treat_as_floating_point_v<Rep>, "an integral duration");
  auto count = std::chrono::duration<double, typename Duration::period>{
      std::chrono::duration<double>{
          seconds}}.count();
  if (std::isnan(count)) return Duration::zero();
  // Both bounds are exact as doubles (-2^63 and 2^63 for a 64-bit count).
  if (count >= static_cast<double>(Duration::max().count())) return Duration::max();
  if (count <= static_cast<double>(Duration::min().count())) return Duration::min();
  return Duration{static_cast<Rep>(count)};
}

}  // namespace processpype
