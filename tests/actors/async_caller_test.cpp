// AsyncCaller's replies and timeouts: one clock message stands for every
// deadline in flight (actors/src/async_caller.cpp), so these check that each
// request still gets exactly one answer, at its own deadline.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <vector>

#include <caf/all.hpp>
#include <catch2/catch.hpp>

#include "processpype/actors/async_caller.hpp"
#include "processpype/testing/process.hpp"

using namespace std::chrono_literals;
using processpype::AsyncCaller;
using processpype::testing::wait_until;

namespace {

using IntActor = caf::typed_actor<caf::replies_to<int>::with<int>>;

/// Answers every int with the same int.
IntActor::behavior_type echo() {
  return {[](int value) { return value; }};
}

/// Never answers: keeps every promise until it ends.
struct SilentState {
  std::vector<caf::typed_response_promise<int>> promises;
};
IntActor::behavior_type silent(IntActor::stateful_pointer<SilentState> self) {
  return {[self](int) {
    self->state.promises.push_back(self->make_response_promise<int>());
    return self->state.promises.back();
  }};
}

/// The answers a caller got, in order: the int, or -1 for a timeout.
struct Answers {
  std::mutex mutex;
  std::vector<int> values;

  AsyncCaller::Callback record(int tag) {
    return [this, tag](caf::message& reply) {
      std::lock_guard lock{mutex};
      if (reply.match_elements<int>())
        values.push_back(reply.get_as<int>(0));
      else if (reply.match_elements<caf::error>() &&
               reply.get_as<caf::error>(0) == caf::sec::request_timeout)
        values.push_back(-tag);
    };
  }
  std::size_t size() {
    std::lock_guard lock{mutex};
    return values.size();
  }
  std::vector<int> copy() {
    std::lock_guard lock{mutex};
    return values;
  }
};

struct CallerFixture {
  caf::actor_system_config config;
  caf::actor_system system{config};
  AsyncCaller caller{system};
  Answers answers;
};

}  // namespace

TEST_CASE("A request answered in time gets its reply once and never a timeout") {
  CallerFixture fixture;
  auto answering = fixture.system.spawn(echo);
  auto quiet = fixture.system.spawn(silent);
  // A deadline far longer than a reply takes, even under the sanitizers on a
  // busy machine; it passes before the quiet one's: a wrong timeout would show.
  fixture.caller.request(answering, caf::timespan{1000ms}, fixture.answers.record(1), 7);
  fixture.caller.request(quiet, caf::timespan{1500ms}, fixture.answers.record(2), 0);
  REQUIRE(wait_until([&] { return fixture.answers.size() >= 2; }, 5000ms));
  CHECK(fixture.answers.copy() == std::vector<int>{7, -2});
  caf::anon_send_exit(quiet, caf::exit_reason::user_shutdown);
}

TEST_CASE(
    "Requests nobody answers time out at their own deadlines, a shorter one sent later first") {
  CallerFixture fixture;
  auto quiet = fixture.system.spawn(silent);
  fixture.caller.request(quiet, caf::timespan{600ms}, fixture.answers.record(1), 0);
  fixture.caller.request(quiet, caf::timespan{300ms}, fixture.answers.record(2), 0);
  fixture.caller.request(quiet, caf::timespan{50ms}, fixture.answers.record(3), 0);
  REQUIRE(wait_until([&] { return fixture.answers.size() >= 3; }, 5000ms));
  CHECK(fixture.answers.copy() == std::vector<int>{-3, -2, -1});
  caf::anon_send_exit(quiet, caf::exit_reason::user_shutdown);
}

TEST_CASE("A thousand requests in flight with one timeout each get exactly one answer") {
  CallerFixture fixture;
  auto answering = fixture.system.spawn(echo);
  auto quiet = fixture.system.spawn(silent);
  constexpr int requests = 1000;
  for (int i = 1; i <= requests; ++i) {
    // Every other one answered (deadlines over 1-1.1 s, far longer than a
    // reply takes), the others time out over 20-120 ms.
    auto spread = std::chrono::milliseconds(i % 100);
    auto timeout = caf::timespan{(i % 2 == 0 ? 1000ms : 20ms) + spread};
    if (i % 2 == 0)
      fixture.caller.request(answering, timeout, fixture.answers.record(i), i);
    else
      fixture.caller.request(quiet, timeout, fixture.answers.record(i), i);
  }
  REQUIRE(wait_until([&] { return fixture.answers.size() >= requests; }, 5000ms));
  auto values = fixture.answers.copy();
  std::sort(values.begin(), values.end(), [](int a, int b) { return std::abs(a) < std::abs(b); });
  REQUIRE(values.size() == static_cast<std::size_t>(requests));
  for (int i = 1; i <= requests; ++i) CHECK(values[i - 1] == (i % 2 == 0 ? i : -i));
  // Once every deadline has passed, still one answer each: no late timeout.
  CHECK_FALSE(wait_until([&] { return fixture.answers.size() > requests; }, 1300ms));
  caf::anon_send_exit(quiet, caf::exit_reason::user_shutdown);
}
