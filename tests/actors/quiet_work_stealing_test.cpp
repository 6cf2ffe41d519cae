// The scheduler of the processpype binary (actors/quiet_work_stealing.hpp):
// an idle actor system's workers sleep until work comes, and work that a
// busy actor queues for itself still reaches another worker at once.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <caf/all.hpp>
#include <catch2/catch.hpp>

#include "processpype/actors/quiet_work_stealing.hpp"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

/// As the processpype binary configures CAF (server/application.cpp).
struct BinaryConfig : caf::actor_system_config {
  explicit BinaryConfig(bool quiet) {
    set("scheduler.max-threads", std::size_t{2});
    set("work-stealing.moderate-poll-attempts", std::size_t{0});
    set("work-stealing.relaxed-sleep-duration", caf::timespan{1ms});
    if (quiet) processpype::use_quiet_work_stealing(*this);
  }
};

/// Times CAF's workers of this process went to sleep (CAF 0.17 names its
/// worker threads "caf.multiplexer"; no middleman runs here).
std::uint64_t worker_sleeps() {
  std::uint64_t sleeps = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    if (name != "caf.multiplexer") continue;
    std::ifstream status(task.path() / "status");
    for (std::string line; std::getline(status, line);)
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0)
        sleeps += std::stoull(line.substr(line.find(':') + 1));
  }
  return sleeps;
}

/// Worker sleeps in `window` of an actor system that has been idle for
/// 100 ms (CAF's workers in their relaxed phase; ours have gone quiet).
std::uint64_t idle_sleeps(bool quiet, std::chrono::milliseconds window) {
  BinaryConfig config{quiet};
  caf::actor_system system{config};
  caf::scoped_actor self{system};
  auto echo = system.spawn([]() -> caf::behavior { return {[](int value) { return value; }}; });
  self->request(echo, caf::infinite, 1).receive([](int) {}, [](caf::error&) {});
  std::this_thread::sleep_for(100ms);  // idle: the scenario, not a wait for a race
  auto before = worker_sleeps();
  std::this_thread::sleep_for(window);
  return worker_sleeps() - before;
}

/// Waits (5 s at most) until no worker has woken for 50 ms: every worker
/// sleeps until woken.
bool all_quiet() {
  for (auto deadline = Clock::now() + 5s; Clock::now() < deadline;) {
    auto before = worker_sleeps();
    std::this_thread::sleep_for(50ms);
    if (worker_sleeps() == before) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("an idle actor system's workers sleep until work comes", "[actors][scheduler]") {
  auto quiet = idle_sleeps(true, 500ms);
  auto polling = idle_sleeps(false, 500ms);
  INFO("worker sleeps in 500 ms of idleness: " << quiet << " quiet, " << polling
                                               << " with CAF's 1 ms steal timer");
  CHECK(quiet <= 4);      // two workers, each asleep once (twice at a 2 s ceiling)
  CHECK(polling >= 100);  // the measure sees wake-ups: ~1,000 here
}

TEST_CASE("work a busy actor queues for itself is taken by a quiet worker", "[actors][scheduler]") {
  BinaryConfig config{true};
  caf::actor_system system{config};
  caf::scoped_actor self{system};
  std::atomic<bool> b_ran{false};
  auto b = system.spawn([&b_ran]() -> caf::behavior { return {[&b_ran](int) { b_ran = true; }}; });
  // A queues a message for idle B on its own worker, then stays busy until
  // B ran (which only the other worker can do meanwhile) or 1.5 s passed.
  auto a = system.spawn([b, &b_ran](caf::event_based_actor* actor) -> caf::behavior {
    return {[actor, b, &b_ran](int) {
      auto started = Clock::now();
      actor->send(b, 1);
      while (!b_ran && Clock::now() - started < 1500ms) std::this_thread::yield();
      return std::chrono::duration<double>(Clock::now() - started).count();
    }};
  });
  // The other worker wakes only when asked (its ceiling is 2 s): B runs
  // before A ends only if A's queuing woke it.
  REQUIRE(all_quiet());
  double waited = -1;
  self->request(a, caf::infinite, 1)
      .receive([&](double seconds) { waited = seconds; }, [](caf::error&) {});
  INFO("A was busy for " << waited << " s before B ran");
  CHECK(b_ran);
  CHECK(waited >= 0);
  CHECK(waited < 1.0);
}
