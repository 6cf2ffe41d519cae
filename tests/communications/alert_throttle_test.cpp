// AlertThrottle: one alert per source per interval, give-ups always, with a
// clock the test moves.

#include <chrono>

#include <catch2/catch.hpp>

#include "processpype/communications/alert_throttle.hpp"

using processpype::communications::AlertKind;
using processpype::communications::AlertThrottle;
using namespace std::chrono_literals;

namespace {

/// A clock that stands still until the test moves it.
struct ManualClock {
  AlertThrottle::Clock::time_point now{AlertThrottle::Clock::duration(1'000'000)};
  AlertThrottle::Now function() {
    return [this] { return now; };
  }
};

}  // namespace

TEST_CASE("The alert throttle lets one alert per source through per interval") {
  ManualClock clock;
  AlertThrottle throttle(60s, clock.function());
  CHECK(throttle.min_interval() == 60s);

  CHECK(throttle.admit("store"));
  clock.now += 1s;
  CHECK_FALSE(throttle.admit("store"));
  clock.now += 58s;
  CHECK_FALSE(throttle.admit("store"));  // 59 s after the one sent

  clock.now += 1s;
  auto admission = throttle.admit("store");  // 60 s: a new interval
  CHECK(admission.send);
  CHECK(admission.held_back == 2);

  clock.now += 30s;
  CHECK_FALSE(throttle.admit("store"));  // counted from the last one sent
}

TEST_CASE("Sources are throttled independently") {
  ManualClock clock;
  AlertThrottle throttle(60s, clock.function());
  CHECK(throttle.admit("store"));
  CHECK(throttle.admit("cache"));
  CHECK(throttle.admit("node node-2"));
  CHECK_FALSE(throttle.admit("store"));
  CHECK_FALSE(throttle.admit("cache"));
}

TEST_CASE("A give-up always passes the throttle and reports what was held back") {
  ManualClock clock;
  AlertThrottle throttle(60s, clock.function());
  CHECK(throttle.admit("store"));
  clock.now += 1s;
  CHECK_FALSE(throttle.admit("store"));
  CHECK_FALSE(throttle.admit("store"));

  auto give_up = throttle.admit("store", AlertKind::always_sent);
  CHECK(give_up.send);
  CHECK(give_up.held_back == 2);
  CHECK(throttle.admit("store", AlertKind::always_sent).held_back == 0);
  // It started a new interval: the next failure waits for it to pass.
  clock.now += 59s;
  CHECK_FALSE(throttle.admit("store"));
  clock.now += 1s;
  CHECK(throttle.admit("store"));
}

TEST_CASE("A zero interval throttles nothing") {
  ManualClock clock;
  AlertThrottle throttle(0s, clock.function());
  for (int i = 0; i < 5; ++i) CHECK(throttle.admit("store"));
}

TEST_CASE("Pruning quiet sources keeps a source with alerts held back") {
  ManualClock clock;
  AlertThrottle throttle(60s, clock.function());
  CHECK(throttle.admit("noisy"));
  CHECK_FALSE(throttle.admit("noisy"));  // one held back
  for (int i = 0; i < 2000; ++i) CHECK(throttle.admit("instance-" + std::to_string(i)));
  clock.now += 61s;
  // Past the prune threshold, the quiet sources go; "noisy" keeps its count.
  CHECK(throttle.admit("another"));
  auto noisy = throttle.admit("noisy");
  CHECK(noisy.send);
  CHECK(noisy.held_back == 1);
}
