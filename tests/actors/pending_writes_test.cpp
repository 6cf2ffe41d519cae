// PendingWrites: the writes an actor waits to hear of, on their own (no
// actor, no writer): tickets are answered by hand, in and out of order.
#include <algorithm>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "pending_writes.hpp"
#include "processpype/actors/protocol.hpp"

using processpype::ErrorCode;
using processpype::make_error;
using processpype::PendingWrites;

namespace {

/// Records which continuation ran, and with what.
struct Outcomes {
  std::vector<std::string> log;

  PendingWrites::Continuation record(const std::string& name) {
    return [this, name](const caf::error& failure) {
      log.push_back(failure ? name + " failed: " + processpype::to_error(failure).detail()
                            : name + " written");
    };
  }
};

}  // namespace

TEST_CASE("Each answered ticket runs its own continuation once, in whatever order they come",
          "[pending_writes]") {
  PendingWrites writes;
  Outcomes outcomes;
  auto first = writes.add(outcomes.record("first"));
  auto second = writes.add(outcomes.record("second"));
  auto third = writes.add(outcomes.record("third"));
  CHECK(writes.size() == 3);

  writes.complete(second, make_error(ErrorCode::node_unavailable, "State not saved: disk full"));
  writes.complete(first, caf::none);
  writes.complete(first, caf::none);      // stale: already answered
  writes.complete(third + 1, caf::none);  // never issued
  writes.complete(third, caf::none);

  CHECK(outcomes.log == std::vector<std::string>{"second failed: State not saved: disk full",
                                                 "first written", "third written"});
  CHECK(writes.size() == 0);
}

TEST_CASE("A taken continuation no longer waits and a stale ticket gives none",
          "[pending_writes]") {
  PendingWrites writes;
  Outcomes outcomes;
  auto ticket = writes.add(outcomes.record("start"));
  auto next = writes.take(ticket);
  REQUIRE(next.has_value());
  CHECK(writes.size() == 0);
  CHECK_FALSE(writes.take(ticket).has_value());
  (*next)(caf::none);
  CHECK(outcomes.log == std::vector<std::string>{"start written"});
}

TEST_CASE("An actor that ends answers every write still waiting with the reason",
          "[pending_writes]") {
  PendingWrites writes;
  Outcomes outcomes;
  writes.add(outcomes.record("configure"));
  auto answered = writes.add(outcomes.record("start"));
  writes.add(outcomes.record("stop"));
  writes.complete(answered, caf::none);

  writes.abandon(make_error(ErrorCode::service_failure, "Service actor of echo ended"));

  CHECK(outcomes.log.size() == 3);
  CHECK(outcomes.log[0] == "start written");
  CHECK(std::count(outcomes.log.begin(), outcomes.log.end(),
                   "configure failed: Service actor of echo ended") == 1);
  CHECK(std::count(outcomes.log.begin(), outcomes.log.end(),
                   "stop failed: Service actor of echo ended") == 1);
  CHECK(writes.size() == 0);
}
