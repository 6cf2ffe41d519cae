// docs/architecture.md, "Lifecycle" through the actors: every row of the state table (refusals
// included), requires_configuration, failing managers, autostart and
// validation, driven through the embedding Runtime.

#include "test_services.hpp"

using namespace actor_tests;
using nlohmann::json;
using processpype::Runtime;

PROCESSPYPE_REGISTER_SERVICE(ProbeService);   // key "probe"
PROCESSPYPE_REGISTER_SERVICE(StrictService);  // key "strict"

namespace {

/// Runs `command` on `name`, which must be in `expected`, and CHECKs that
/// it changed neither the status nor the manager's `calls` count; the
/// command's error, if any.
template <class F>
std::optional<processpype::Error> without_effect(Runtime& runtime, const std::string& name,
                                                 ServiceState expected, std::atomic<int>& calls,
                                                 F&& command) {
  auto before = runtime.status(name);
  REQUIRE(before.state == expected);
  auto calls_before = calls.load();
  auto error = error_of(std::forward<F>(command));
  CHECK(runtime.status(name) == before);
  CHECK(calls == calls_before);
  return error;
}

/// Brings `name` into `busy`: running after a start, or starting or stopping
/// with the manager's call held at `p`. Runs `check(busy)` there, then lets
/// a held call finish without error.
void while_busy(Runtime& runtime, const std::string& name, Probe& p, ServiceState busy,
                const std::function<void(ServiceState)>& check) {
  if (busy != ServiceState::starting) runtime.start(name);
  std::optional<Pending> held;
  if (busy == ServiceState::starting) held = call_held(runtime, name, p, HeldCall::start);
  if (busy == ServiceState::stopping) held = call_held(runtime, name, p, HeldCall::stop);
  check(busy);
  if (held) release_and_finish(p, {&*held});
}

/// Puts `name` into error through a failing start.
void make_error_state(Runtime& runtime, const std::string& name) {
  runtime.configure(name, {{"fail_on", "start"}});
  auto error = error_of([&] { runtime.start(name); });
  REQUIRE(error);
  REQUIRE(state_of(runtime, name) == ServiceState::error);
}

}  // namespace

// -- configure --------------------------------------------------------------------

TEST_CASE("configure: allowed from initialized, configured, stopped and error", "[lifecycle]") {
  Node node;
  auto p = add_probe(*node, "cfg");

  auto initial = node->status("cfg");
  CHECK(initial.state == ServiceState::initialized);
  CHECK(initial.metadata == json::object());
  CHECK_FALSE(initial.is_configured);

  // initialized -> configured; metadata is the full configuration, extras kept.
  node->configure("cfg", {{"label", "first"}, {"extra", 1}});
  auto status = node->status("cfg");
  CHECK(status.state == ServiceState::configured);
  CHECK(status.is_configured);
  CHECK(status.metadata.at("label") == "first");
  CHECK(status.metadata.at("extra") == 1);
  CHECK(status.metadata.at("fail_on") == "none");
  CHECK(status.metadata.at("enabled") == true);
  CHECK(status.metadata.at("autostart") == false);
  CHECK(status.metadata.at("start_timeout_seconds") == 60.0);
  CHECK(status.metadata.at("stop_timeout_seconds") == 60.0);

  // configured -> configured; a configure replaces everything (no merge).
  node->configure("cfg", {{"start_delay_ms", 1}});
  status = node->status("cfg");
  CHECK(status.state == ServiceState::configured);
  CHECK(status.metadata.at("label") == "probe");
  CHECK(status.metadata.at("start_delay_ms") == 1);
  CHECK_FALSE(status.metadata.contains("extra"));

  // stopped -> configured
  node->start("cfg");
  node->stop("cfg");
  REQUIRE(state_of(*node, "cfg") == ServiceState::stopped);
  node->configure("cfg", {{"label", "after-stop"}});
  CHECK(state_of(*node, "cfg") == ServiceState::configured);

  // error -> configured
  make_error_state(*node, "cfg");
  node->configure("cfg", json::object());
  status = node->status("cfg");
  CHECK(status.state == ServiceState::configured);
  CHECK(status.metadata.at("fail_on") == "none");
}

TEST_CASE("configure: 409 while running, starting or stopping, state unchanged", "[lifecycle]") {
  Node node;
  auto p = add_probe(*node, "busy");
  node->configure("busy", {{"label", "kept"}});

  auto refused = [&](ServiceState expected) {
    auto error = without_effect(*node, "busy", expected, p->configures, [&] {
      node->configure("busy", {{"label", "new"}});
    });
    REQUIRE(error);
    CHECK(error->code() == ErrorCode::conflict);
    CHECK(std::string{error->what()}.find(std::string{to_string(expected)}) != std::string::npos);
    CHECK(node->status("busy").metadata.at("label") == "kept");
  };

  SECTION("starting") {
    while_busy(*node, "busy", *p, ServiceState::starting, refused);
    CHECK(state_of(*node, "busy") == ServiceState::running);
    CHECK(p->configures == 1);
  }
  SECTION("running") {
    while_busy(*node, "busy", *p, ServiceState::running, refused);
  }
  SECTION("stopping") {
    while_busy(*node, "busy", *p, ServiceState::stopping, refused);
    CHECK(state_of(*node, "busy") == ServiceState::stopped);
  }
}

TEST_CASE("configure: invalid configuration is 422, state and previous config kept",
          "[lifecycle][validation]") {
  Node node;
  auto p = add_probe(*node, "val");

  SECTION("from initialized") {
    expect_error(ErrorCode::invalid_value, [&] {
      node->configure("val", {{"start_delay_ms", "soon"}});
    });
    auto status = node->status("val");
    CHECK(status.state == ServiceState::initialized);
    CHECK(status.metadata == json::object());
    CHECK_FALSE(status.is_configured);
  }
  SECTION("from configured, stopped and error") {
    node->configure("val", {{"label", "good"}, {"extra", "x"}});
    auto check_kept = [&](ServiceState state) {
      auto before = node->status("val");
      REQUIRE(before.state == state);
      expect_error(ErrorCode::invalid_value, [&] { node->configure("val", {{"label", 42}}); });
      CHECK(node->status("val") == before);
    };
    check_kept(ServiceState::configured);
    node->start("val");
    node->stop("val");
    check_kept(ServiceState::stopped);
    make_error_state(*node, "val");
    check_kept(ServiceState::error);
  }
}

TEST_CASE("validation through the actor names the field", "[validation]") {
  Node node;
  auto p = add_probe(*node, "typed");
  node->configure("typed", {{"label", "before"}, {"start_delay_ms", 3}});
  auto previous = node->status("typed");

  struct Case {
    json body;
    std::string field;
  };
  std::vector<Case> cases = {
      {{{"start_delay_ms", "10"}}, "start_delay_ms"},  // string for int
      {{{"start_delay_ms", 1.5}}, "start_delay_ms"},   // float for int
      {{{"start_delay_ms", true}}, "start_delay_ms"},  // bool for int
      {{{"label", 5}}, "label"},                       // int for string
      {{{"enabled", "yes"}}, "enabled"},               // string for bool
      {{{"enabled", 1}}, "enabled"},                   // int for bool
      {{{"start_timeout_seconds", "1"}}, "start_timeout_seconds"},
      {{{"start_timeout_seconds", 0}}, "start_timeout_seconds"},          // base validation
      {{{"fail_on", "sometimes"}}, "fail_on"},                            // custom validator
      {{{"stop_delay_ms", -1}}, "stop_delay_ms"},                         // custom validator
      {{{"start_delay_ms", 18446744073709551615ull}}, "start_delay_ms"},  // > int64
  };
  for (const auto& c : cases) {
    INFO("body " << c.body.dump());
    auto error = expect_error(ErrorCode::invalid_value, [&] { node->configure("typed", c.body); });
    CHECK(std::string{error.what()}.find("'" + c.field + "'") != std::string::npos);
    CHECK(node->status("typed") == previous);
  }

  SECTION("a float field takes integers") {
    node->configure("typed", {{"start_timeout_seconds", 2}});
    CHECK(node->status("typed").metadata.at("start_timeout_seconds") == 2.0);
  }
  SECTION("a configuration that is not an object is 422") {
    expect_error(ErrorCode::invalid_value, [&] { node->configure("typed", json::array({1, 2})); });
    CHECK(node->status("typed") == previous);
  }
  SECTION("a required field that is missing is 422 naming it") {
    fresh_probe("needs");
    node->register_service("strict", std::string{"needs"});
    auto missing =
        expect_error(ErrorCode::invalid_value, [&] { node->configure("needs", json::object()); });
    CHECK(std::string{missing.what()}.find("'capacity'") != std::string::npos);
    auto invalid = error_of([&] { node->configure("needs", {{"capacity", 0}}); });
    REQUIRE(invalid);
    CHECK(std::string{invalid->what()}.find("'capacity'") != std::string::npos);
    CHECK(state_of(*node, "needs") == ServiceState::initialized);
  }
  SECTION("unknown service is 404") {
    expect_error(ErrorCode::not_found, [&] { node->configure("nobody", json::object()); });
  }
}

// -- start ----------------------------------------------------------------------------

TEST_CASE("start: allowed from initialized, configured, stopped and error", "[lifecycle]") {
  Node node;
  auto p = add_probe(*node, "go");

  node->start("go");  // from initialized (requires_configuration() is false)
  CHECK(state_of(*node, "go") == ServiceState::running);
  CHECK(p->starts == 1);
  CHECK(p->running);

  node->stop("go");
  node->start("go");  // from stopped
  CHECK(state_of(*node, "go") == ServiceState::running);
  node->stop("go");

  node->configure("go", json::object());
  node->start("go");  // from configured
  CHECK(state_of(*node, "go") == ServiceState::running);
  node->stop("go");

  // from error: the start is attempted again (here it fails again)
  make_error_state(*node, "go");
  auto starts = p->starts.load();
  expect_error(ErrorCode::service_failure, [&] { node->start("go"); });
  CHECK(p->starts == starts + 1);
  CHECK(state_of(*node, "go") == ServiceState::error);
  CHECK_FALSE(p->overlapped);
}

TEST_CASE("start: straight from error (no configure in between)", "[lifecycle]") {
  Node node;
  auto p = add_probe(*node, "again");
  node->configure("again", {{"fail_on", "stop"}});
  node->start("again");
  REQUIRE(error_of([&] { node->stop("again"); }));
  REQUIRE(state_of(*node, "again") == ServiceState::error);
  node->start("again");  // error -> starting -> running
  check_status(*node, "again", ServiceState::running);
}

TEST_CASE("start: 409 while running, starting or stopping", "[lifecycle]") {
  Node node;
  auto p = add_probe(*node, "twice");

  auto refused = [&](ServiceState expected) {
    auto error = without_effect(*node, "twice", expected, p->starts, [&] { node->start("twice"); });
    REQUIRE(error);
    CHECK(error->code() == ErrorCode::conflict);
  };

  SECTION("running") {
    while_busy(*node, "twice", *p, ServiceState::running, refused);
  }
  SECTION("starting") {
    while_busy(*node, "twice", *p, ServiceState::starting, refused);
    CHECK(p->starts == 1);
  }
  SECTION("stopping") {
    while_busy(*node, "twice", *p, ServiceState::stopping, refused);
    CHECK(state_of(*node, "twice") == ServiceState::stopped);
  }
  CHECK_FALSE(p->overlapped);
}

// -- stop -------------------------------------------------------------------------------

TEST_CASE("stop: from running and error goes to stopped", "[lifecycle]") {
  Node node;
  auto p = add_probe(*node, "halt");
  node->start("halt");
  node->stop("halt");
  CHECK(state_of(*node, "halt") == ServiceState::stopped);
  CHECK(p->stops == 1);
  CHECK_FALSE(p->running);

  make_error_state(*node, "halt");
  auto stops = p->stops.load();
  node->stop("halt");  // error -> stopping -> stopped
  CHECK(state_of(*node, "halt") == ServiceState::stopped);
  CHECK(p->stops == stops + 1);
}

TEST_CASE("stop: from initialized, configured or stopped is a no-op", "[lifecycle]") {
  Node node;
  auto p = add_probe(*node, "idle");

  auto no_op = [&](ServiceState expected) {
    CHECK_FALSE(without_effect(*node, "idle", expected, p->stops, [&] { node->stop("idle"); }));
  };
  no_op(ServiceState::initialized);
  node->configure("idle", {{"label", "x"}});
  no_op(ServiceState::configured);
  node->start("idle");
  node->stop("idle");
  no_op(ServiceState::stopped);
  CHECK(p->stops == 1);
}

TEST_CASE("stop while starting waits for the start, then stops", "[lifecycle]") {
  Node node;
  auto p = add_probe(*node, "early");
  auto started = call_held(*node, "early", *p, HeldCall::start);

  auto stopped = in_background([&] { node->stop("early"); });
  // The stop must not be answered while the start is still held.
  CHECK_FALSE(ready_within(stopped, 100ms));
  CHECK(state_of(*node, "early") == ServiceState::starting);
  CHECK(p->stops == 0);

  release_and_finish(*p, {&started, &stopped});
  CHECK(state_of(*node, "early") == ServiceState::stopped);
  CHECK(p->starts == 1);
  CHECK(p->stops == 1);
  CHECK(p->start_returns == 1);
  CHECK_FALSE(p->overlapped);
  CHECK_FALSE(p->running);
}

TEST_CASE("stop while stopping waits for the stop in flight", "[lifecycle]") {
  Node node;
  auto p = add_probe(*node, "late");
  node->start("late");
  auto first = call_held(*node, "late", *p, HeldCall::stop);
  auto second = in_background([&] { node->stop("late"); });
  CHECK_FALSE(ready_within(second, 100ms));
  CHECK_FALSE(ready_within(first, 0ms));

  release_and_finish(*p, {&first, &second});
  CHECK(state_of(*node, "late") == ServiceState::stopped);
  CHECK(p->stops == 1);  // one manager call for both commands
}

TEST_CASE("stop while stopping: a failing stop fails every waiter", "[lifecycle]") {
  Node node;
  auto p = add_probe(*node, "latefail");
  node->configure("latefail", {{"fail_on", "stop"}});
  node->start("latefail");
  auto first = call_held(*node, "latefail", *p, HeldCall::stop);
  auto second = in_background([&] { node->stop("latefail"); });
  CHECK_FALSE(ready_within(second, 50ms));
  p->release();
  REQUIRE(ready_within(first, 5s));
  REQUIRE(ready_within(second, 5s));
  auto e1 = first.get();
  auto e2 = second.get();
  REQUIRE(e1);
  REQUIRE(e2);
  CHECK(e1->code() == ErrorCode::service_failure);
  CHECK(e2->code() == ErrorCode::service_failure);
  CHECK(std::string{e2->what()} == "Failed to stop latefail service: boom on stop");
  CHECK(p->stops == 1);
}

// -- requires_configuration -------------------------------------------------------------

TEST_CASE("requires_configuration: start without configure is an error and a 409", "[lifecycle]") {
  Node node;
  auto p = fresh_probe("vault");
  auto registration = node->register_service("strict", std::string{"vault"});
  CHECK(registration.type == "StrictService");

  auto error = expect_error(ErrorCode::conflict, [&] { node->start("vault"); });
  CHECK(std::string{error.what()}.find("must be configured") != std::string::npos);
  check_status(*node, "vault", ServiceState::error, error.what());
  CHECK(p->starts == 0);

  node->configure("vault", {{"capacity", 3}});
  start_running(*node, "vault");
  CHECK(node->status("vault").metadata.at("capacity") == 3);
  CHECK(p->starts == 1);
}

// -- failing managers ----------------------------------------------------------------

TEST_CASE("a manager throwing in start or stop puts the service in error", "[lifecycle]") {
  Node node;
  auto p = add_probe(*node, "flaky");

  const std::string start_failure = "Failed to start flaky service: boom on start";
  const std::string stop_failure = "Failed to stop flaky service: boom on stop";
  node->configure("flaky", {{"fail_on", "start"}});
  auto error = expect_error(ErrorCode::service_failure, [&] { node->start("flaky"); });
  CHECK(std::string{error.what()} == start_failure);
  check_status(*node, "flaky", ServiceState::error, start_failure);

  // A later successful start clears the error.
  node->configure("flaky", {{"fail_on", "stop"}});
  CHECK(node->status("flaky").error == start_failure);
  start_running(*node, "flaky");

  error = expect_error(ErrorCode::service_failure, [&] { node->stop("flaky"); });
  CHECK(std::string{error.what()} == stop_failure);
  check_status(*node, "flaky", ServiceState::error, stop_failure);

  node->configure("flaky", json::object());
  start_running(*node, "flaky");
  CHECK_FALSE(p->overlapped);
}

// -- autostart ----------------------------------------------------------------------------

TEST_CASE("autostart: configure answers at once, a start follows by itself", "[autostart]") {
  Node node;
  auto p = add_probe(*node, "auto");
  p->hold(true, false);  // the start that follows stays in flight until released

  auto begin = Clock::now();
  node->configure("auto", {{"autostart", true}});
  CHECK(elapsed_ms(begin) < 1000);
  // The configure reply did not wait for the start.
  CHECK(p->start_returns == 0);
  auto state = state_of(*node, "auto");
  CHECK((state == ServiceState::configured || state == ServiceState::starting));

  REQUIRE(eventually([&] { return state_of(*node, "auto") == ServiceState::starting; }));
  p->release();
  bool reached = eventually([&] { return state_of(*node, "auto") == ServiceState::running; });
  INFO("status after autostart: " << to_json(node->status("auto")).dump());
  REQUIRE(reached);
  // It stays running: nothing the autostart left behind disturbs the actor.
  auto actor_before = node->status("auto");
  CHECK(node->call_route("auto", route("GET", "/state")).body.at("state") == "running");
  CHECK(node->status("auto") == actor_before);
  CHECK(p->starts == 1);
  auto status = node->status("auto");
  CHECK(status.error.empty());
  CHECK(status.metadata.at("autostart") == true);

  // Still a normal service afterwards.
  node->stop("auto");
  CHECK(state_of(*node, "auto") == ServiceState::stopped);
}

TEST_CASE("autostart: the start is ordered before later commands", "[autostart]") {
  Node node;
  auto p = add_probe(*node, "ordered");
  node->configure("ordered", {{"autostart", true}});
  // A route queued after the configure reply runs after the autostart's
  // transition (routes wait for transitions), so it sees running.
  auto response = node->call_route("ordered", route("GET", "/state"));
  CHECK(response.status == 200);
  CHECK(response.body.at("state") == "running");
  CHECK(state_of(*node, "ordered") == ServiceState::running);
}

TEST_CASE("autostart: a failing autostart leaves the start's error", "[autostart]") {
  Node node;
  auto p = add_probe(*node, "autofail");
  node->configure("autofail", {{"autostart", true}, {"fail_on", "start"}, {"label", "mine"}});
  REQUIRE(eventually([&] { return state_of(*node, "autofail") == ServiceState::error; }));
  auto status = node->status("autofail");
  CHECK(status.error == "Failed to start autofail service: boom on start");
  CHECK(status.metadata.at("label") == "mine");
  // The instance keeps working: a valid configure and start succeed.
  node->configure("autofail", json::object());
  node->start("autofail");
  CHECK(state_of(*node, "autofail") == ServiceState::running);
}

TEST_CASE("autostart with enabled:false never starts by itself", "[autostart]") {
  Node node;
  auto p = add_probe(*node, "off");
  node->configure("off", {{"autostart", true}, {"enabled", false}});
  // A command queued after the configure reply: had a start been triggered,
  // this route would run after it and see running.
  auto response = node->call_route("off", route("GET", "/state"));
  CHECK(response.body.at("state") == "configured");
  CHECK(state_of(*node, "off") == ServiceState::configured);
  CHECK(p->starts == 0);

  // It can still be started by hand.
  node->start("off");
  CHECK(state_of(*node, "off") == ServiceState::running);
  CHECK(p->starts == 1);
}
