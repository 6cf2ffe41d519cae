// AsyncCaller's replies and timeouts: one clock message stands for every
// deadline in flight (actors/src/async_caller.cpp), so these check that each
// request still gets exactly one answer, at its own deadline. Then the
// calling thread: which actors a request's own thread runs, and how much.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <variant>
#include <vector>

#include <caf/all.hpp>
#include <catch2/catch.hpp>

#include "blocking_request.hpp"
#include "processpype/actors/async_caller.hpp"
#include "processpype/actors/calling_thread_execution.hpp"
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

// -- the calling thread (actors/include/processpype/actors/calling_thread_execution.hpp) --

namespace {

using processpype::CallingThreadExecution;

/// Answers every int with the same int; notes the threads it ran on. With
/// `MayRunHere`, it is an actor a request's own thread may run.
template <bool MayRunHere>
class ThreadNotingEcho final
    : public IntActor::base,
      public std::conditional_t<MayRunHere, processpype::RunsOnCallingThread, std::monostate> {
 public:
  ThreadNotingEcho(caf::actor_config& config, std::thread::id watched, std::atomic<int>* runs_on,
                   std::atomic<int>* runs_elsewhere)
      : IntActor::base(config),
        watched_(watched),
        runs_on_(runs_on),
        runs_elsewhere_(runs_elsewhere) {}

  /// Answers 0 once it has passed `n` to itself n times: a cascade of
  /// messages, each handled in this actor.
  behavior_type make_behavior() override {
    return {[this](int n) -> caf::result<int> {
      ++*(std::this_thread::get_id() == watched_ ? runs_on_ : runs_elsewhere_);
      if (n <= 0) return n;
      return delegate(caf::actor_cast<IntActor>(this), n - 1);
    }};
  }

 private:
  std::thread::id watched_;
  std::atomic<int>* runs_on_;
  std::atomic<int>* runs_elsewhere_;
};

/// Where an actor's handlers and a reply's callback ran, seen from the test's thread.
struct Threads {
  std::thread::id test = std::this_thread::get_id();
  std::atomic<int> handled_here{0};
  std::atomic<int> handled_elsewhere{0};
  std::atomic<int> replies_here{0};
  std::atomic<int> replies_elsewhere{0};
  std::atomic<int> last_value{-1};

  template <bool MayRunHere>
  IntActor spawn(caf::actor_system& system) {
    // Lazy: idle (its mailbox blocked) until the first request wakes it.
    return system.spawn<ThreadNotingEcho<MayRunHere>, caf::lazy_init>(test, &handled_here,
                                                                      &handled_elsewhere);
  }
  AsyncCaller::Callback record() {
    return [this](caf::message& reply) {
      if (reply.match_elements<int>()) last_value = reply.get_as<int>(0);
      ++*(std::this_thread::get_id() == test ? &replies_here : &replies_elsewhere);
    };
  }
  int replies() const { return replies_here + replies_elsewhere; }
};

/// Wakes `answering` with a message of its own (so that, run on a calling
/// thread, `answering` waits in that thread's unit), then blocks until
/// `answering` answers n (>= 0).
class BlockingAsker final : public IntActor::base, public processpype::RunsOnCallingThread {
 public:
  BlockingAsker(caf::actor_config& config, IntActor answering)
      : IntActor::base(config), answering_(std::move(answering)) {}

  behavior_type make_behavior() override {
    return {[this](int n) -> caf::result<int> {
      if (n < 0) return caf::delegated<int>{};  // the wake-up's answer: no reply to it
      send(answering_, -1);
      return processpype::blocking_request<int>(system(), answering_, caf::duration{2s}, n);
    }};
  }

 private:
  IntActor answering_;
};

}  // namespace

TEST_CASE(
    "Inside a scope, an idle actor that may run there answers on the caller's thread at once") {
  CallerFixture fixture;
  Threads threads;
  auto actor = threads.spawn<true>(fixture.system);
  {
    CallingThreadExecution::Scope scope{fixture.system};
    fixture.caller.request(actor, std::nullopt, threads.record(), 0);
    // Before request() returned: the actor ran here, and so did the callback.
    CHECK(threads.replies_here == 1);
    CHECK(threads.handled_here == 1);
    CHECK(threads.last_value == 0);
  }
  CHECK(threads.handled_elsewhere == 0);
  caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
}

TEST_CASE("Without a scope, for an actor not marked, or workers only, CAF's workers run it") {
  CallerFixture fixture;
  Threads threads;
  enum Case { no_scope, not_marked, workers_only };
  auto which = GENERATE(no_scope, not_marked, workers_only);
  auto actor = which == not_marked ? threads.spawn<false>(fixture.system)
                                   : threads.spawn<true>(fixture.system);
  std::optional<CallingThreadExecution::Scope> scope;
  if (which != no_scope) scope.emplace(fixture.system);
  std::optional<CallingThreadExecution::WorkersOnly> workers;
  if (which == workers_only) workers.emplace();
  fixture.caller.request(actor, std::nullopt, threads.record(), 0);
  REQUIRE(wait_until([&] { return threads.replies() == 1; }, 5000ms));
  CHECK(threads.replies_elsewhere == 1);
  CHECK(threads.handled_elsewhere == 1);
  CHECK(threads.handled_here == 0);
  caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
}

TEST_CASE("A cascade longer than a run's budget goes on on CAF's workers, and answers once") {
  CallerFixture fixture;
  Threads threads;
  auto actor = threads.spawn<true>(fixture.system);
  constexpr int hops = 5000;
  {
    CallingThreadExecution::Scope scope{fixture.system};
    fixture.caller.request(actor, std::nullopt, threads.record(), hops);
  }
  REQUIRE(wait_until([&] { return threads.replies() == 1; }, 5000ms));
  CHECK(threads.last_value == 0);
  // The calling thread ran at most its budget; the rest ran elsewhere.
  constexpr auto budget =
      CallingThreadExecution::max_resumes * CallingThreadExecution::messages_per_resume;
  CHECK(threads.handled_here > 0);
  CHECK(threads.handled_here <= static_cast<int>(budget));
  CHECK(threads.handled_here + threads.handled_elsewhere == hops + 1);
  CHECK(threads.replies_elsewhere == 1);
  CHECK_FALSE(wait_until([&] { return threads.replies() > 1; }, 100ms));
  caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
}

TEST_CASE("An actor that blocks on one this thread holds gets its answer from CAF's workers") {
  CallerFixture fixture;
  Threads threads;
  auto answering = threads.spawn<true>(fixture.system);
  auto asking = fixture.system.spawn<BlockingAsker, caf::lazy_init>(answering);
  {
    CallingThreadExecution::Scope scope{fixture.system};
    fixture.caller.request(asking, std::nullopt, threads.record(), 0);
  }
  // Without the hand-over, `answering` waited in this thread's unit until
  // the blocking request timed out (2 s), and the reply was an error.
  REQUIRE(wait_until([&] { return threads.replies() == 1; }, 5000ms));
  CHECK(threads.last_value == 0);
  CHECK(threads.handled_elsewhere == 2);  // the wake-up and the request
  caf::anon_send_exit(asking, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(answering, caf::exit_reason::user_shutdown);
}
