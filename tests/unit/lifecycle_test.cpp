// The lifecycle state machine (docs/architecture.md), without actors: every
// command in every state.
#include <catch2/catch.hpp>

#include "processpype/runtime/lifecycle.hpp"

using nlohmann::json;
using processpype::ErrorCode;
using processpype::ServiceLifecycle;
using processpype::ServiceState;

namespace {

struct Calls {
  int starts = 0;
  int stops = 0;
  bool fail_start = false;
  bool fail_stop = false;
};

class ProbeManager : public processpype::ServiceManager {
 public:
  ProbeManager(std::shared_ptr<spdlog::logger> logger, Calls& calls)
      : ServiceManager(std::move(logger)), calls_(calls) {}
  void start() override {
    ++calls_.starts;
    if (calls_.fail_start) throw std::runtime_error("port in use");
  }
  void stop() override {
    ++calls_.stops;
    if (calls_.fail_stop) throw std::runtime_error("socket stuck");
  }

 private:
  Calls& calls_;
};

struct ProbeConfiguration : processpype::ServiceConfiguration {
  std::int64_t step = 1;
  void fields(processpype::Fields& fields) override { fields("step", step, "").greater_than(0); }
};

class ProbeService : public processpype::ConfiguredService<ProbeConfiguration> {
 public:
  ProbeService(std::string name, Calls& calls, bool needs_configuration)
      : ConfiguredService(std::move(name)),
        calls_(calls),
        needs_configuration_(needs_configuration) {}
  std::unique_ptr<processpype::ServiceManager> create_manager() override {
    return std::make_unique<ProbeManager>(logger(), calls_);
  }
  bool requires_configuration() const override { return needs_configuration_; }

 private:
  Calls& calls_;
  bool needs_configuration_;
};

struct Fixture {
  Calls calls;
  ServiceLifecycle lifecycle;

  explicit Fixture(bool needs_configuration = false)
      : lifecycle(std::make_unique<ProbeService>("probe", calls, needs_configuration)) {}

  /// Runs a manager call as the service actor would.
  std::string run(ServiceLifecycle::Call call) {
    lifecycle.hand_out();
    return std::get<std::string>(lifecycle.run(call));
  }
  std::optional<processpype::Error> start() {
    lifecycle.begin_start();
    return lifecycle.finish_start(run(ServiceLifecycle::Call::start));
  }
  std::optional<processpype::Error> stop() {
    if (lifecycle.begin_stop() != ServiceLifecycle::StopPlan::run) return std::nullopt;
    return lifecycle.finish_stop(run(ServiceLifecycle::Call::stop));
  }
  void bring_to(ServiceState state) {
    switch (state) {
      case ServiceState::initialized:
        return;
      case ServiceState::configured:
        lifecycle.configure(json::object());
        return;
      case ServiceState::starting:
        lifecycle.begin_start();
        return;
      case ServiceState::running:
        start();
        return;
      case ServiceState::stopping:
        start();
        lifecycle.begin_stop();
        return;
      case ServiceState::stopped:
        start();
        stop();
        return;
      case ServiceState::error:
        lifecycle.fail("broken");
        return;
    }
  }
};

ErrorCode refusal(const std::function<void()>& command) {
  try {
    command();
  } catch (const processpype::Error& error) {
    return error.code();
  }
  FAIL("the command was not refused");
  return ErrorCode::bad_request;
}

}  // namespace

TEST_CASE("configure is accepted from initialized, configured, stopped and error") {
  auto state = GENERATE(ServiceState::initialized, ServiceState::configured, ServiceState::stopped,
                        ServiceState::error);
  Fixture fixture;
  fixture.bring_to(state);
  fixture.lifecycle.configure({{"step", 2}});
  CHECK(fixture.lifecycle.state() == ServiceState::configured);
  CHECK(fixture.lifecycle.status().is_configured);
  CHECK(fixture.lifecycle.status().metadata["step"] == 2);
}

TEST_CASE("configure is refused with conflict while starting, running or stopping") {
  auto state = GENERATE(ServiceState::starting, ServiceState::running, ServiceState::stopping);
  Fixture fixture;
  fixture.bring_to(state);
  CHECK(refusal([&] { fixture.lifecycle.configure(json::object()); }) == ErrorCode::conflict);
  CHECK(fixture.lifecycle.state() == state);
}

TEST_CASE("an invalid configuration keeps the state and the previous configuration") {
  Fixture fixture;
  fixture.lifecycle.configure({{"step", 5}});
  CHECK(refusal([&] { fixture.lifecycle.configure({{"step", 0}}); }) == ErrorCode::invalid_value);
  CHECK(refusal([&] { fixture.lifecycle.configure({{"step", "x"}}); }) == ErrorCode::invalid_value);
  CHECK(fixture.lifecycle.state() == ServiceState::configured);
  CHECK(fixture.lifecycle.status().metadata["step"] == 5);
  CHECK(static_cast<const ProbeConfiguration&>(fixture.lifecycle.configuration()).step == 5);
}

TEST_CASE("a configure replaces the whole previous configuration") {
  Fixture fixture;
  fixture.lifecycle.configure({{"step", 5}, {"note", "x"}});
  fixture.lifecycle.configure({{"other", 1}});
  CHECK(fixture.lifecycle.status().metadata["step"] == 1);
  CHECK_FALSE(fixture.lifecycle.status().metadata.contains("note"));
  CHECK(fixture.lifecycle.status().metadata["other"] == 1);
}

TEST_CASE("start from initialized, configured, stopped and error ends running") {
  auto state = GENERATE(ServiceState::initialized, ServiceState::configured, ServiceState::stopped,
                        ServiceState::error);
  Fixture fixture;
  fixture.bring_to(state);
  fixture.lifecycle.begin_start();
  CHECK(fixture.lifecycle.state() == ServiceState::starting);
  CHECK_FALSE(fixture.lifecycle.finish_start(fixture.run(ServiceLifecycle::Call::start)));
  CHECK(fixture.lifecycle.state() == ServiceState::running);
  CHECK(fixture.lifecycle.status().error.empty());
}

TEST_CASE("start is refused with conflict while starting, running or stopping") {
  auto state = GENERATE(ServiceState::starting, ServiceState::running, ServiceState::stopping);
  Fixture fixture;
  fixture.bring_to(state);
  CHECK(refusal([&] { fixture.lifecycle.begin_start(); }) == ErrorCode::conflict);
  CHECK(fixture.lifecycle.state() == state);
}

TEST_CASE("start without a required configuration: error state, says so, conflict") {
  Fixture fixture{true};
  CHECK(refusal([&] { fixture.lifecycle.begin_start(); }) == ErrorCode::conflict);
  CHECK(fixture.lifecycle.state() == ServiceState::error);
  CHECK(fixture.lifecycle.status().error == "Service probe must be configured before starting");
  CHECK(fixture.calls.starts == 0);
  fixture.lifecycle.configure(json::object());
  CHECK_FALSE(fixture.start());
  CHECK(fixture.lifecycle.state() == ServiceState::running);
}

TEST_CASE("a manager that throws in start leaves error with its text, a later start clears it") {
  Fixture fixture;
  fixture.calls.fail_start = true;
  auto error = fixture.start();
  REQUIRE(error);
  CHECK(error->code() == ErrorCode::service_failure);
  CHECK(fixture.lifecycle.state() == ServiceState::error);
  CHECK(fixture.lifecycle.status().error == "Failed to start probe service: port in use");
  CHECK(std::string{error->what()} == fixture.lifecycle.status().error);
  fixture.calls.fail_start = false;
  CHECK_FALSE(fixture.start());
  CHECK(fixture.lifecycle.status().error.empty());
}

TEST_CASE("a manager that throws in stop leaves error with its text") {
  Fixture fixture;
  fixture.start();
  fixture.calls.fail_stop = true;
  auto error = fixture.stop();
  REQUIRE(error);
  CHECK(fixture.lifecycle.state() == ServiceState::error);
  CHECK(fixture.lifecycle.status().error == "Failed to stop probe service: socket stuck");
}

TEST_CASE("stop runs from running and error, waits while transitioning, else does nothing") {
  using Plan = ServiceLifecycle::StopPlan;
  auto [state, plan] = GENERATE(table<ServiceState, Plan>({
      {ServiceState::initialized, Plan::nothing_to_do},
      {ServiceState::configured, Plan::nothing_to_do},
      {ServiceState::stopped, Plan::nothing_to_do},
      {ServiceState::running, Plan::run},
      {ServiceState::error, Plan::run},
      {ServiceState::starting, Plan::wait_for_transition},
      {ServiceState::stopping, Plan::wait_for_transition},
  }));
  Fixture fixture;
  fixture.bring_to(state);
  auto stops = fixture.calls.stops;
  CHECK(fixture.lifecycle.begin_stop() == plan);
  if (plan == Plan::run) {
    CHECK(fixture.lifecycle.state() == ServiceState::stopping);
    CHECK_FALSE(fixture.lifecycle.finish_stop(fixture.run(ServiceLifecycle::Call::stop)));
    CHECK(fixture.lifecycle.state() == ServiceState::stopped);
    CHECK(fixture.calls.stops == stops + 1);
  } else {
    CHECK(fixture.lifecycle.state() == state);
    CHECK(fixture.calls.stops == stops);
  }
}

TEST_CASE("a timeout leaves error with the timeout text") {
  Fixture fixture;
  fixture.lifecycle.configure({{"start_timeout_seconds", 0.5}});
  fixture.lifecycle.begin_start();
  fixture.lifecycle.hand_out();
  auto error = fixture.lifecycle.time_out(std::chrono::milliseconds(500));
  CHECK(fixture.lifecycle.state() == ServiceState::error);
  CHECK(fixture.lifecycle.status().error == "Timed out starting probe service after 0.5 s");
  CHECK(std::string{error.what()} == fixture.lifecycle.status().error);
  // The abandoned call never returned here: the manager still counts as busy.
  CHECK(fixture.lifecycle.manager_busy());
}

TEST_CASE("a stop cut short names the bound it was given, not the configured timeout") {
  Fixture fixture;
  fixture.lifecycle.configure({{"stop_timeout_seconds", 60}});
  fixture.lifecycle.begin_start();
  fixture.lifecycle.hand_out();
  REQUIRE_FALSE(fixture.lifecycle.finish_start(""));
  fixture.lifecycle.begin_stop();
  fixture.lifecycle.hand_out();
  // A lost lease's stop gets what is left before the lease ends.
  fixture.lifecycle.time_out(std::chrono::milliseconds(700));
  CHECK(fixture.lifecycle.status().error == "Timed out stopping probe service after 0.7 s");
}

TEST_CASE("autostart is reported by configure, never for a disabled instance") {
  Fixture fixture;
  CHECK(fixture.lifecycle.configure({{"autostart", true}}));
  CHECK_FALSE(fixture.lifecycle.configure({{"autostart", true}, {"enabled", false}}));
  CHECK_FALSE(fixture.lifecycle.configure(json::object()));
}
