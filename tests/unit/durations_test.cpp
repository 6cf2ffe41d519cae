// to_duration: seconds from a configuration as a std::chrono duration.
#include <chrono>
#include <limits>

#include <catch2/catch.hpp>

#include "processpype/runtime/durations.hpp"

using processpype::to_duration;
using namespace std::chrono_literals;

TEST_CASE("to_duration converts seconds as duration_cast does, truncating toward zero",
          "[durations]") {
  CHECK(to_duration(1.5) == 1500ms);
  CHECK(to_duration(0.0) == 0ns);
  CHECK(to_duration(-2.25) == -2250ms);
  CHECK(to_duration<std::chrono::milliseconds>(0.0019) == 1ms);
  CHECK(to_duration<std::chrono::milliseconds>(-0.0019) == -1ms);
  CHECK(to_duration<std::chrono::seconds>(59.999) == 59s);
  for (double seconds : {0.1, 0.3, 1e-9, 3.7, 86400.5, 31536000.0})
    CHECK(to_duration(seconds) == std::chrono::duration_cast<std::chrono::nanoseconds>(
                                      std::chrono::duration<double>(seconds)));
}

TEST_CASE("to_duration saturates past the range of the duration, and NaN is zero", "[durations]") {
  constexpr auto infinity = std::numeric_limits<double>::infinity();
  // 2^63 ns is about 292 years.
  CHECK(to_duration(300.0 * 365 * 24 * 3600) == std::chrono::nanoseconds::max());
  CHECK(to_duration(-300.0 * 365 * 24 * 3600) == std::chrono::nanoseconds::min());
  CHECK(to_duration(infinity) == std::chrono::nanoseconds::max());
  CHECK(to_duration(-infinity) == std::chrono::nanoseconds::min());
  CHECK(to_duration<std::chrono::milliseconds>(1e300) == std::chrono::milliseconds::max());
  CHECK(to_duration(std::numeric_limits<double>::quiet_NaN()) == 0ns);
  // A count just below 2^63 is still converted, not saturated.
  CHECK(to_duration(9.2e9) == std::chrono::nanoseconds{9'200'000'000'000'000'000});
}
