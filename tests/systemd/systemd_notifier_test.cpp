// The SystemdNotifier in-process, on a Runtime whose Supervisor the test can
// stall: the watchdog must stop while the node's actors do not answer, which
// a stopped process (notify_protocol_test.cpp) cannot tell apart.
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <caf/all.hpp>
#include <catch2/catch.hpp>

#include "processpype/actors/instance_table.hpp"
#include "processpype/actors/protocol.hpp"
#include "processpype/actors/runtime.hpp"
#include "processpype/runtime/service_registry.hpp"
#include "processpype/testing/systemd.hpp"
#include "systemd_notifier.hpp"

namespace {

using namespace processpype::testing;
using processpype::InstanceCounts;
using processpype::ServiceState;

/// Sets environment variables for one test, restoring them after. Set
/// before the actor system exists, so no other thread reads the
/// environment meanwhile.
class ScopedEnvironment {
 public:
  explicit ScopedEnvironment(
      std::vector<std::pair<std::string, std::optional<std::string>>> values) {
    for (auto& [name, value] : values) {
      const char* old = std::getenv(name.c_str());
      saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
      apply(name, value);
    }
  }
  ~ScopedEnvironment() {
    for (const auto& [name, value] : saved_) apply(name, value);
  }
  ScopedEnvironment(const ScopedEnvironment&) = delete;
  ScopedEnvironment& operator=(const ScopedEnvironment&) = delete;

 private:
  static void apply(const std::string& name, const std::optional<std::string>& value) {
    if (value)
      ::setenv(name.c_str(), value->c_str(), 1);
    else
      ::unsetenv(name.c_str());
  }
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

caf::actor_system_config& with_runtime_types(caf::actor_system_config& config) {
  processpype::Runtime::add_types(config);
  return config;
}

/// An actor system and a Runtime on it.
/// What systemd sets for a Type=notify service with a watchdog of `usec`
/// µs: NOTIFY_SOCKET `socket` (unset for none), and no WATCHDOG_PID.
std::vector<std::pair<std::string, std::optional<std::string>>> watchdog_environment(
    std::optional<std::string> socket, const std::string& usec) {
  return {{"NOTIFY_SOCKET", std::move(socket)},
          {"WATCHDOG_USEC", usec},
          {"WATCHDOG_PID", std::nullopt}};
}

struct ActorNode {
  caf::actor_system_config config;
  caf::actor_system system{with_runtime_types(config)};
  processpype::Runtime runtime{system};
};

/// Holds whoever passes it until released (at most 10 s, so that a broken
/// test cannot hang).
class Gate {
 public:
  void pass() {
    std::unique_lock lock{mutex_};
    entered_ = true;
    changed_.notify_all();
    changed_.wait_for(lock, 10s, [this] { return released_; });
  }
  bool entered() {
    std::lock_guard lock{mutex_};
    return entered_;
  }
  void release() {
    {
      std::lock_guard lock{mutex_};
      released_ = true;
    }
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool entered_ = false;
  bool released_ = false;
};

void set_count(InstanceCounts& counts, ServiceState state, std::int64_t count) {
  counts.by_state[static_cast<std::size_t>(state)] = count;
}

}  // namespace

TEST_CASE("The status line names the states that have instances, in lifecycle order") {
  InstanceCounts counts;
  CHECK(processpype::describe_instance_counts(counts) == "0 instances");
  set_count(counts, ServiceState::running, 1);
  CHECK(processpype::describe_instance_counts(counts) == "1 instance: 1 running");
  set_count(counts, ServiceState::error, 1);
  set_count(counts, ServiceState::stopped, 1);
  set_count(counts, ServiceState::running, 10);
  CHECK(processpype::describe_instance_counts(counts) ==
        "12 instances: 10 running, 1 stopped, 1 error");
  // A reader can catch a transition half-way: a count a moment below zero.
  set_count(counts, ServiceState::starting, -1);
  CHECK(processpype::describe_instance_counts(counts) ==
        "12 instances: 10 running, 1 stopped, 1 error");
}

TEST_CASE("The watchdog is pinged only while the Supervisor answers") {
  NotifySocket socket;
  ScopedEnvironment environment{watchdog_environment(socket.path(), "400000")};
  ActorNode node;
  auto gate = std::make_shared<Gate>();
  // Creating an instance runs in the Supervisor: this class holds it there.
  processpype::ServiceClassRegistry::global().add(
      {"stalling", "StallingService", [gate](std::string name) {
         gate->pass();
         return std::make_unique<processpype::Service>(std::move(name));
       }});

  processpype::SystemdNotifier notifier{node.runtime};
  REQUIRE(notifier.watchdog_interval() == std::chrono::microseconds(200000));
  REQUIRE(socket.receive_until(is_watchdog_ping, 2s));

  caf::anon_send(node.runtime.supervisor(), processpype::register_atom::value,
                 processpype::RegisterRequest{"stalling", "stuck", false});
  REQUIRE(wait_until([&] { return gate->entered(); }, 5s));
  auto stalled_at = Clock::now();
  socket.drain();
  std::vector<NotifyMessage> while_stalled;
  socket.receive_until([](const auto&) { return false; }, 1200ms, &while_stalled);
  // A question answered just before the stall may still ping once, within
  // one interval; none after.
  int pings = 0;
  for (const auto& message : while_stalled) {
    if (!is_watchdog_ping(message)) continue;
    ++pings;
    CHECK(message.received - stalled_at < 250ms);
  }
  CHECK(pings <= 1);

  gate->release();
  CHECK(socket.receive_until(is_watchdog_ping, 2s));
  // The instance the Supervisor was creating shows in the next status.
  auto status = socket.receive_until(
      [](const auto& message) { return message.value("STATUS").has_value(); }, 3s);
  REQUIRE(status);
  CHECK(status->value("STATUS") == "1 instance: 1 initialized");
}

TEST_CASE("The notifier's thread ends promptly, whatever the watchdog period") {
  NotifySocket socket;
  ScopedEnvironment environment{watchdog_environment(socket.path(), "60000000")};
  ActorNode node;
  std::optional<processpype::SystemdNotifier> notifier{std::in_place, node.runtime};
  REQUIRE(socket.receive_until(is_watchdog_ping, 2s));
  auto start = Clock::now();
  notifier.reset();
  CHECK(Clock::now() - start < 500ms);
}

TEST_CASE("Without NOTIFY_SOCKET the notifier keeps no watchdog") {
  ScopedEnvironment environment{watchdog_environment(std::nullopt, "400000")};
  ActorNode node;
  processpype::SystemdNotifier notifier{node.runtime};
  CHECK_FALSE(notifier.watchdog_interval());
  notifier.ready();
  notifier.stopping();
}
