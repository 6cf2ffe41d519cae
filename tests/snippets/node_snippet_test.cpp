// The embedding calls of docs/embedding.md, cut from here (docs/embedding.md,
// "The C++ blocks of these docs"), run on the README's EchoService
// (examples/embedding/echo_service.hpp), and what the doc says they do.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

// [snippet:node-in-a-program]
#include <caf/all.hpp>
#include "processpype/actors/runtime.hpp"

// [snippet-skip]
#include "echo_service.hpp"
#include "processpype/actors/protocol.hpp"
#include "processpype/testing/process.hpp"

using namespace std::chrono_literals;
using processpype::ErrorCode;
using processpype::ServiceState;

namespace {

/// The code of the processpype::Error that `command` throws.
ErrorCode error_code_of(const std::function<void()>& command) {
  try {
    command();
  } catch (const processpype::Error& error) {
    return error.code();
  }
  FAIL("expected a processpype::Error");
  return ErrorCode::bad_request;
}

}  // namespace

TEST_CASE("A program runs a node on its own actor system and drives a service through it") {
  // [snippet-resume]
  caf::actor_system_config config;
  processpype::Runtime::add_types(config);  // protocol types, before the system exists
  caf::actor_system system{config};
  processpype::Runtime runtime{system};

  auto echo = runtime.register_service<EchoService>();  // registers the class too
  runtime.configure(echo.name, {{"prefix", "Hi"}});
  runtime.start(echo.name);                 // returns once running
  auto status = runtime.status(echo.name);  // ServiceStatus
  runtime.stop(echo.name);
  runtime.deregister(echo.name);
  // [snippet-end:node-in-a-program]

  CHECK(echo.name == "echo");
  CHECK(echo.type == "EchoService");
  CHECK(status.state == ServiceState::running);
  CHECK(status.metadata["prefix"] == "Hi");
  CHECK(error_code_of([&] { runtime.status(echo.name); }) == ErrorCode::not_found);
}

namespace {

/// A node on an actor system of its own, with the README's EchoService registered.
struct EchoNode {
  caf::actor_system_config config;
  caf::actor_system system{add_types(config)};
  processpype::Runtime runtime{system};
  std::string echo = runtime.register_service<EchoService>().name;

  static caf::actor_system_config& add_types(caf::actor_system_config& config) {
    processpype::Runtime::add_types(config);
    return config;
  }
};

/// What the Supervisor answered a start message: the state, or the error's code.
struct StartReply {
  std::optional<ServiceState> state;
  std::optional<ErrorCode> error;
};

/// Sends docs/embedding.md's start message for "echo" from an actor of its own.
StartReply start_echo_by_message(processpype::Runtime& runtime) {
  auto reply = std::make_shared<std::promise<StartReply>>();
  auto answered = reply->get_future();
  auto on_started = [reply](ServiceState state) { reply->set_value({state, std::nullopt}); };
  auto on_failure = [reply](const processpype::Error& error) {
    reply->set_value({std::nullopt, error.code()});
  };
  runtime.system().spawn([&runtime, on_started, on_failure](caf::event_based_actor* self) {
    // [snippet:start-message]
    self->request(runtime.supervisor(), caf::infinite, processpype::start_atom::value,
                  std::string{"echo"}, processpype::Trigger{processpype::EventCause::request})
        .then([=](processpype::ServiceState state) { on_started(state); },
              [=](caf::error& error) { on_failure(processpype::to_error(error)); });
    // [snippet-end:start-message]
  });
  REQUIRE(answered.wait_for(10s) == std::future_status::ready);
  return answered.get();
}

/// The events a subscription delivered, as "<service> <state>", in order.
class EventRecord {
 public:
  void add(const processpype::Event& event) {
    std::lock_guard lock{mutex_};
    entries_.push_back(event.service + " " + event.state);
  }
  std::vector<std::string> entries() const {
    std::lock_guard lock{mutex_};
    return entries_;
  }
  bool holds(const std::string& entry) const {
    auto all = entries();
    return std::find(all.begin(), all.end(), entry) != all.end();
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> entries_;
};

}  // namespace

TEST_CASE("An actor starts a service with the message that the blocking start wraps") {
  EchoNode node;
  auto started = start_echo_by_message(node.runtime);
  CHECK(started.state == ServiceState::running);
  CHECK(node.runtime.status(node.echo).state == ServiceState::running);

  node.runtime.stop(node.echo);
  node.runtime.deregister(node.echo);
  auto refused = start_echo_by_message(node.runtime);
  CHECK_FALSE(refused.state);
  CHECK(refused.error == ErrorCode::not_found);
}

TEST_CASE("A subscription gets a node's events in order, the kept ones first") {
  EchoNode node;
  auto& runtime = node.runtime;
  auto events = std::make_shared<EventRecord>();
  auto record = [events](const processpype::Event& event) { events->add(event); };
  // [snippet:subscribe]
  auto subscription = runtime.subscribe([=](const processpype::EventBatch& batch) {
    for (const auto& event : batch.events) record(event);  // event.service, .state, .cause
  });  // runs on a CAF worker, in order, until `subscription` is destroyed
  // [snippet-end:subscribe]

  runtime.start(node.echo);
  REQUIRE(processpype::testing::wait_until([&] { return events->holds("echo running"); }, 10s));
  CHECK(events->entries() ==
        std::vector<std::string>{"echo registered", "echo starting", "echo running"});
}
