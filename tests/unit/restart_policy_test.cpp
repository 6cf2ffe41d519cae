// RestartTracker: delay backoff and the restart intensity window, driven
// with explicit time points (no clock, no sleeping).
#include <chrono>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "processpype/runtime/configuration.hpp"
#include "processpype/runtime/restart_policy.hpp"

using processpype::RestartTracker;
using namespace std::chrono_literals;

namespace {

using TimePoint = RestartTracker::Clock::time_point;

/// An arbitrary origin: time points are only compared with each other.
const TimePoint t0 = TimePoint{} + 1000h;

TimePoint at(double seconds) {
  return t0 + std::chrono::duration_cast<RestartTracker::Clock::duration>(
                  std::chrono::duration<double>(seconds));
}

double seconds_of(RestartTracker::Clock::duration duration) {
  return std::chrono::duration<double>(duration).count();
}

struct Policy : processpype::ServiceConfiguration {
  Policy(double delay, double max_delay, std::int64_t max, double window) {
    restart = "on-failure";
    restart_delay_seconds = delay;
    restart_max_delay_seconds = max_delay;
    max_restarts = max;
    restart_window_seconds = window;
  }
};

/// The delay before the restart that a failure at `seconds` schedules.
double delay_after_failure_at(RestartTracker& tracker, const Policy& policy, double seconds) {
  return seconds_of(tracker.on_failure(policy, at(seconds)).delay);
}

/// `count` failures at 0, `every`, 2 `every`... seconds, each restarted
/// `restart_after` seconds later; REQUIREs that `tracker` never gave up.
void restart_repeatedly(RestartTracker& tracker, const Policy& policy, int count, double every,
                        double restart_after = 0) {
  for (int i = 0; i < count; ++i) {
    auto decision = tracker.on_failure(policy, at(i * every));
    REQUIRE_FALSE(decision.give_up);
    CHECK(decision.give_up_text.empty());
    tracker.on_restart(at(i * every + restart_after));
  }
}

/// CHECKs that a failure at `seconds` makes `tracker` give up, saying
/// `text` (what follows the failure in the instance's error).
void check_gives_up(RestartTracker& tracker, const Policy& policy, double seconds,
                    const std::string& text) {
  auto decision = tracker.on_failure(policy, at(seconds));
  CHECK(decision.give_up);
  CHECK(decision.give_up_text == text);
}

}  // namespace

TEST_CASE("the restart delay doubles after each restart, up to the cap") {
  Policy policy{1.0, 8.0, 100, 60.0};
  REQUIRE(policy.restarts_on_failure());
  RestartTracker tracker;
  double now = 0;
  std::vector<double> delays;
  for (int i = 0; i < 6; ++i) {
    auto decision = tracker.on_failure(policy, at(now));
    REQUIRE_FALSE(decision.give_up);
    delays.push_back(seconds_of(decision.delay));
    now += seconds_of(decision.delay);
    tracker.on_restart(at(now));
  }
  CHECK(delays == std::vector<double>{1, 2, 4, 8, 8, 8});
}

TEST_CASE("a cap below the first delay does not shorten the first delay") {
  Policy policy{3.0, 1.0, 100, 60.0};
  RestartTracker tracker;
  CHECK(delay_after_failure_at(tracker, policy, 0) == Approx(3.0));
  tracker.on_restart(at(3));
  CHECK(delay_after_failure_at(tracker, policy, 4) == Approx(3.0));
}

TEST_CASE("the tracker gives up once max_restarts restarts happened within the window") {
  Policy policy{1.0, 30.0, 5, 60.0};
  RestartTracker tracker;
  restart_repeatedly(tracker, policy, 5, 1, 0.5);
  check_gives_up(tracker, policy, 10, "; gave up after 5 restarts in 60 s");
  CHECK(tracker.restarts() == 5);
}

TEST_CASE("the give-up text writes a fractional window as it is") {
  Policy policy{0.01, 1.0, 2, 0.5};
  RestartTracker tracker;
  tracker.on_failure(policy, at(0));
  tracker.on_restart(at(0.01));
  tracker.on_failure(policy, at(0.1));
  tracker.on_restart(at(0.12));
  check_gives_up(tracker, policy, 0.2, "; gave up after 2 restarts in 0.5 s");
}

TEST_CASE("max_restarts 0 gives up at the first failure") {
  Policy policy{1.0, 30.0, 0, 60.0};
  RestartTracker tracker;
  check_gives_up(tracker, policy, 0, "; gave up after 0 restarts in 60 s");
}

TEST_CASE("restarts older than the window no longer count") {
  Policy policy{1.0, 30.0, 5, 60.0};
  RestartTracker tracker;
  restart_repeatedly(tracker, policy, 5, 1);          // restarts at 0, 1, 2, 3, 4
  CHECK(tracker.on_failure(policy, at(59)).give_up);  // all five within 60 s
  // At 61 s the restarts at 0 and 1 left the window: three remain.
  auto decision = tracker.on_failure(policy, at(61));
  CHECK_FALSE(decision.give_up);
  tracker.on_restart(at(61));
  CHECK_FALSE(tracker.on_failure(policy, at(61.5)).give_up);
  tracker.on_restart(at(61.5));  // 2, 3, 4, 61, 61.5: five again
  CHECK(tracker.on_failure(policy, at(61.9)).give_up);
}

TEST_CASE("the delay is back to the first after the service ran for the window") {
  Policy policy{1.0, 30.0, 100, 60.0};
  RestartTracker tracker;
  restart_repeatedly(tracker, policy, 3, 10);
  SECTION("running for the whole window resets the delay") {
    tracker.on_running(at(100));
    CHECK(delay_after_failure_at(tracker, policy, 160) == Approx(1.0));
  }
  SECTION("running for less than the window keeps backing off") {
    tracker.on_running(at(100));
    CHECK(delay_after_failure_at(tracker, policy, 159) == Approx(8.0));
  }
  SECTION("a user's stop forgets the running time") {
    tracker.on_running(at(100));
    tracker.on_stopped();
    CHECK(delay_after_failure_at(tracker, policy, 500) == Approx(8.0));
  }
  SECTION("a failure ends the running time: the next failure needs a new on_running") {
    tracker.on_running(at(100));
    CHECK(delay_after_failure_at(tracker, policy, 110) == Approx(8.0));
    tracker.on_restart(at(118));
    CHECK(delay_after_failure_at(tracker, policy, 300) == Approx(16.0));
  }
}

TEST_CASE("restarts() counts every automatic restart") {
  Policy policy{1.0, 30.0, 3, 1.0};
  RestartTracker tracker;
  CHECK(tracker.restarts() == 0);
  restart_repeatedly(tracker, policy, 10, 5);  // window 1 s: never 3 in it
  CHECK(tracker.restarts() == 10);
}
