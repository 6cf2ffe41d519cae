// End-to-end tests of supervision (docs/supervision.md, "Failures", "Restart
// policy", "Health checks") against the real `processpype` binary, driven by
// the example service `faulty`: every failure source ends in `error` with its
// text and an event; `on-failure` restarts after a delay that doubles and
// caps (measured from the events' times); the intensity limit gives up; a
// user's stop cancels a pending restart.
//
// Not covered: a health check that hangs past health_timeout_seconds. No
// example service can make check_health() block (faulty's POST /health only
// sets the answer, and checks never overlap start or stop, so
// start_delay_ms cannot hold one either).

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <processpype/testing/checks.hpp>

#include "operations_support.hpp"

using namespace processpype::testing;
using namespace processpype::testing::operations;

namespace {

/// Registers a `faulty` instance `name` and configures it with `fields`.
void faulty(HttpClient& api, const std::string& name, const json& fields) {
  register_ok(api, "faulty", name);
  E2E_REQUIRE_STATUS(api.post("/services/" + name + "/configure", fields), 200);
}

/// Event time in milliseconds (REQUIREs the documented format).
std::int64_t time_of(const json& event) {
  INFO("event: " << event.dump());
  REQUIRE(event.contains("time"));
  REQUIRE(event["time"].is_string());
  auto ms = iso_time_ms(event["time"].get<std::string>());
  REQUIRE(ms.has_value());
  return *ms;
}

std::string dump_events(const std::vector<json>& events) {
  std::string text;
  for (const auto& event : events) text += event.dump() + "\n";
  return text;
}

/// The error event about `service` (REQUIREs exactly one).
json only_error_event(HttpClient& api, const std::string& service) {
  auto events = events_about(events_of(api), service);
  std::vector<json> errors;
  for (const auto& event : events)
    if (event.value("state", "") == "error") errors.push_back(event);
  INFO(dump_events(events));
  REQUIRE(errors.size() == 1);
  return errors.front();
}

/// Counts the stderr lines that contain every one of `parts`.
std::size_t count_lines(const std::string& text, const std::vector<std::string>& parts) {
  std::size_t count = 0;
  for (const auto& line : lines_of(text)) {
    bool all = true;
    for (const auto& part : parts) all = all && line.find(part) != std::string::npos;
    if (all) ++count;
  }
  return count;
}

}  // namespace

// ---------------------------------------------------------------------------
// Failure sources

TEST_CASE_METHOD(FreshServer,
                 "supervision: a start that throws is error with the manager's text, cause failure",
                 "[operations][supervision][failures]") {
  faulty(api, "thrower", {{"fail_on", "start"}});

  const std::string text =
      "Failed to start thrower service: simulated failure on start (fail_on: start)";
  auto started = api.post("/services/thrower/start");
  E2E_CHECK_STATUS(started, 500);
  CHECK(started.detail() == text);

  auto status = status_of(api, "thrower");
  CHECK(status["state"] == "error");
  CHECK(status["error"] == text);
  CHECK(status["restarts"] == 0);
  CHECK(status["next_restart_in_seconds"].is_null());

  auto event = only_error_event(api, "thrower");
  CHECK(event["error"] == text);
  CHECK(event["cause"] == "failure");
}

TEST_CASE_METHOD(
    FreshServer,
    "supervision: a start that outlasts start_timeout_seconds is error 'Timed out ...'",
    "[operations][supervision][failures]") {
  faulty(api, "sluggish", {{"start_delay_ms", 2000}, {"start_timeout_seconds", 0.2}});

  auto sent = Clock::now();
  auto started = api.post("/services/sluggish/start");
  auto took = elapsed_ms(sent);
  E2E_CHECK_STATUS(started, 500);
  const std::string text = "Timed out starting sluggish service after 0.2 s";
  CHECK(started.detail() == text);
  // Answered at the timeout, not when the manager's start ends (2 s).
  CHECK(took >= 190);
  CHECK(took < 1500);

  auto status = status_of(api, "sluggish");
  CHECK(status["state"] == "error");
  CHECK(status["error"] == text);
  auto event = only_error_event(api, "sluggish");
  CHECK(event["error"] == text);
  CHECK(event["cause"] == "failure");
}

TEST_CASE(
    "supervision: a runtime failure (POST /fail) is error with its reason, logged once, "
    "and the manager's stop runs as clean-up",
    "[operations][supervision][failures]") {
  ServerProcess server({"--log-level", "info"});
  auto api = server.client();
  faulty(api, "worker", json::object());
  command_ok(api, "worker", "start");

  auto failed = api.post("/services/worker/fail", {{"reason", "lost the connection"}});
  E2E_REQUIRE_STATUS(failed, 200);
  auto status = status_of(api, "worker");
  CHECK(status["state"] == "error");
  CHECK(status["error"] == "lost the connection");
  auto event = only_error_event(api, "worker");
  CHECK(event["error"] == "lost the connection");
  CHECK(event["cause"] == "failure");

  // The clean-up stop, then exactly one log line of the failure.
  bool cleaned_up = wait_until(
      [&] {
        return count_lines(server.stderr_text(),
                           {"processpype.services.worker", "Faulty service stopped"}) == 1;
      },
      10s);
  auto err = server.stderr_text();
  INFO("stderr:\n" << err.substr(0, 4000));
  CHECK(cleaned_up);
  CHECK(count_lines(err, {"processpype.services.worker", "lost the connection"}) == 1);

  // Once it is in error, POST /fail is 409 (not running).
  E2E_CHECK_STATUS(api.post("/services/worker/fail"), 409);
}

TEST_CASE_METHOD(
    FreshServer,
    "supervision: fail_after_ms reports 'planned failure after T ms' T ms after the start",
    "[operations][supervision][failures]") {
  faulty(api, "timed", {{"fail_after_ms", 200}});
  command_ok(api, "timed", "start");

  auto error = wait_for_event(api, [](const json& e) { return is_event(e, "timed", "error"); });
  REQUIRE(error.has_value());
  CHECK((*error)["error"] == "planned failure after 200 ms");
  CHECK((*error)["cause"] == "failure");
  CHECK(status_of(api, "timed")["error"] == "planned failure after 200 ms");

  auto running = wait_for_event(
      api, [](const json& e) { return is_event(e, "timed", "running", "request"); }, 1s);
  REQUIRE(running.has_value());
  auto after = time_of(*error) - time_of(*running);
  INFO("running -> error: " << after << " ms");
  CHECK(after >= 200);
  CHECK(after <= 2200);
}

TEST_CASE_METHOD(FreshServer,
                 "supervision: health_failures not-ok checks in a row are error "
                 "'Health check failed N times: <detail>', cause health",
                 "[operations][supervision][health]") {
  // Turns unhealthy by itself 100 ms after its start.
  faulty(api, "sick",
         {{"unhealthy_after_ms", 100}, {"health_interval_seconds", 0.05}, {"health_failures", 2}});
  // Healthy until told otherwise through POST /health.
  faulty(api, "told", {{"health_interval_seconds", 0.05}, {"health_failures", 2}});
  // Tolerates many not-ok answers: what a check answered shows while it runs.
  faulty(api, "tolerant", {{"health_interval_seconds", 0.05}, {"health_failures", 100000}});
  // No checks: health stays null.
  faulty(api, "unchecked", json::object());
  for (const auto* name : {"sick", "told", "tolerant", "unchecked"})
    E2E_REQUIRE_STATUS(api.post(std::string("/services/") + name + "/start"), 200);

  SECTION("unhealthy_after_ms") {
    const std::string text = "Health check failed 2 times: planned unhealthy after 100 ms";
    REQUIRE(wait_for_state(api, "sick", "error", 10s));
    auto status = status_of(api, "sick");
    INFO(status.dump());
    CHECK(status["error"] == text);
    auto event = only_error_event(api, "sick");
    CHECK(event["error"] == text);
    CHECK(event["cause"] == "health");
  }

  SECTION("status.health shows the last answer while the service runs") {
    command_ok(api, "tolerant", "health", {{"ok", false}, {"detail", "degraded"}});
    json health;
    bool answered = wait_until(
        [&] {
          health = status_of(api, "tolerant")["health"];
          return health.is_object() && health["ok"] == false;
        },
        10s);
    INFO(status_of(api, "tolerant").dump());
    REQUIRE(answered);
    CHECK(health["detail"] == "degraded");
    REQUIRE(health["checked_at"].is_string());
    auto checked_at = iso_time_ms(health["checked_at"].get<std::string>());
    REQUIRE(checked_at.has_value());
    CHECK(state_of(api, "tolerant") == "running");
    // checked_at moves on with each check.
    CHECK(wait_until(
        [&] {
          auto now = status_of(api, "tolerant")["health"];
          return now.is_object() && now["checked_at"].is_string() &&
                 iso_time_ms(now["checked_at"].get<std::string>()) > checked_at;
        },
        10s));
  }

  SECTION("POST /health") {
    // Healthy checks first: {ok: true, detail, checked_at (ISO 8601 UTC)}.
    json health;
    bool checked = wait_until(
        [&] {
          health = status_of(api, "told")["health"];
          return health.is_object();
        },
        10s);
    INFO(status_of(api, "told").dump());
    REQUIRE(checked);
    CHECK(health["ok"] == true);
    CHECK(health["detail"].is_string());
    REQUIRE(health["checked_at"].is_string());
    CHECK(iso_time_ms(health["checked_at"].get<std::string>()).has_value());
    CHECK(state_of(api, "told") == "running");
    CHECK(status_of(api, "unchecked")["health"].is_null());

    auto told = api.post("/services/told/health", {{"ok", false}, {"detail", "disk full"}});
    E2E_REQUIRE_STATUS(told, 200);
    REQUIRE(wait_for_state(api, "told", "error", 10s));
    CHECK(status_of(api, "told")["error"] == "Health check failed 2 times: disk full");
    auto event = only_error_event(api, "told");
    CHECK(event["cause"] == "health");
    CHECK(event["error"] == "Health check failed 2 times: disk full");
  }
}

// ---------------------------------------------------------------------------
// Restart policy

TEST_CASE_METHOD(FreshServer,
                 "supervision: on-failure restarts after the delay, which doubles and caps",
                 "[operations][supervision][restart]") {
  faulty(api, "flaky",
         {{"fail_starts", 3},
          {"restart", "on-failure"},
          {"restart_delay_seconds", 0.1},
          {"restart_max_delay_seconds", 0.25}});

  auto first = api.post("/services/flaky/start");
  E2E_CHECK_STATUS(first, 500);
  CHECK(first.detail() == "Failed to start flaky service: planned failure 1 of 3");
  REQUIRE(wait_for_state(api, "flaky", "running", 15s));

  auto status = status_of(api, "flaky");
  CHECK(status["restarts"] == 3);
  CHECK(status["next_restart_in_seconds"].is_null());
  CHECK(status["error"].is_null());

  auto events = events_about(events_of(api), "flaky");
  INFO(dump_events(events));
  // registered, configured, then: starting (request), error, and three times
  // starting (restart) ... the last one running.
  std::vector<std::pair<std::string, std::string>> states;
  for (const auto& event : events) states.emplace_back(event["state"], event["cause"]);
  std::vector<std::pair<std::string, std::string>> expected = {
      {"registered", "request"}, {"configured", "request"}, {"starting", "request"},
      {"error", "failure"},      {"starting", "restart"},   {"error", "failure"},
      {"starting", "restart"},   {"error", "failure"},      {"starting", "restart"},
      {"running", "restart"}};
  REQUIRE(states == expected);
  CHECK(events[3]["error"] == "Failed to start flaky service: planned failure 1 of 3");
  CHECK(events[5]["error"] == "Failed to start flaky service: planned failure 2 of 3");
  CHECK(events[7]["error"] == "Failed to start flaky service: planned failure 3 of 3");

  // Each gap from an error to the next start: at least the delay (0.1, then
  // doubled to 0.2, then capped at 0.25 instead of 0.4), at most 0.5 s more.
  const std::vector<std::int64_t> delays = {100, 200, 250};
  for (std::size_t i = 0; i < delays.size(); ++i) {
    auto gap = time_of(events[4 + 2 * i]) - time_of(events[3 + 2 * i]);
    INFO("restart " << i + 1 << ": " << gap << " ms after the failure, delay " << delays[i]);
    CHECK(gap >= delays[i]);
    CHECK(gap <= delays[i] + 500);
  }
}

TEST_CASE_METHOD(
    FreshServer,
    "supervision: the intensity limit gives up with '..., gave up after 2 restarts in 60 s'",
    "[operations][supervision][restart]") {
  faulty(api, "doomed",
         {{"fail_starts", 10},
          {"restart", "on-failure"},
          {"restart_delay_seconds", 0.05},
          {"restart_max_delay_seconds", 0.05},
          {"max_restarts", 2},
          {"restart_window_seconds", 60}});
  E2E_CHECK_STATUS(api.post("/services/doomed/start"), 500);

  const std::string text =
      "Failed to start doomed service: planned failure 3 of 10; gave up after 2 restarts in 60 s";
  json status;
  bool gave_up = wait_until(
      [&] {
        status = status_of(api, "doomed");
        return status.is_object() && status["error"].is_string() &&
               status["error"].get<std::string>().find("gave up") != std::string::npos;
      },
      10s);
  INFO(status.dump());
  REQUIRE(gave_up);
  CHECK(status["error"] == text);
  CHECK(status["state"] == "error");
  CHECK(status["restarts"] == 2);
  CHECK(status["next_restart_in_seconds"].is_null());

  auto events = events_about(events_of(api), "doomed");
  INFO(dump_events(events));
  std::size_t restarts = 0;
  std::vector<json> errors;
  for (const auto& event : events) {
    if (is_event(event, "doomed", "starting", "restart")) ++restarts;
    if (is_event(event, "doomed", "error")) errors.push_back(event);
  }
  CHECK(restarts == 2);
  REQUIRE(errors.size() == 3);
  CHECK(errors.back()["error"] == text);
}

TEST_CASE_METHOD(FreshServer,
                 "supervision: restarts and next_restart_in_seconds while a restart is pending, "
                 "a user stop during the delay cancels it",
                 "[operations][supervision][restart]") {
  faulty(api, "pending",
         {{"restart", "on-failure"},
          {"restart_delay_seconds", 0.5},
          {"restart_max_delay_seconds", 5}});
  command_ok(api, "pending", "start");

  // First failure: a restart pending in 0.5 s, counted down from the failure
  // (`took`: how long ago at most that was when the status was read).
  auto sent = Clock::now();
  command_ok(api, "pending", "fail", {{"reason", "first"}});
  auto status = status_of(api, "pending");
  auto took = elapsed_ms(sent) / 1000;
  INFO(status.dump() << " read " << took << " s after the failure");
  CHECK(status["state"] == "error");
  CHECK(status["restarts"] == 0);
  REQUIRE(status["next_restart_in_seconds"].is_number());
  auto next = status["next_restart_in_seconds"].get<double>();
  CHECK(next > 0);
  CHECK(next <= 0.5);
  CHECK(next + took >= 0.5 - 0.01);

  REQUIRE(wait_for_state(api, "pending", "running", 10s));
  status = status_of(api, "pending");
  CHECK(status["restarts"] == 1);
  CHECK(status["next_restart_in_seconds"].is_null());

  // Second failure soon after: the delay has doubled to 1 s.
  sent = Clock::now();
  command_ok(api, "pending", "fail", {{"reason", "second"}});
  status = status_of(api, "pending");
  took = elapsed_ms(sent) / 1000;
  INFO(status.dump() << " read " << took << " s after the failure");
  REQUIRE(status["next_restart_in_seconds"].is_number());
  next = status["next_restart_in_seconds"].get<double>();
  CHECK(next <= 1.0);
  CHECK(next + took >= 1.0 - 0.01);

  // A user's stop now cancels it.
  auto seq_before_stop = last_seq(api);
  command_ok(api, "pending", "stop");
  status = status_of(api, "pending");
  CHECK(status["state"] == "stopped");
  CHECK(status["next_restart_in_seconds"].is_null());
  CHECK(status["restarts"] == 1);

  // Past the delay and half a second more: no restart came.
  bool restarted = wait_until(
      [&] {
        for (const auto& event : events_of(api, seq_before_stop))
          if (is_event(event, "pending", "starting")) return true;
        return false;
      },
      1500ms, 50ms);
  INFO(dump_events(events_of(api, seq_before_stop)));
  CHECK_FALSE(restarted);
  CHECK(state_of(api, "pending") == "stopped");
  CHECK(status_of(api, "pending")["restarts"] == 1);
}

TEST_CASE_METHOD(
    FreshServer,
    "supervision: after restart_window_seconds of running, the delay and the restart count "
    "start over",
    "[operations][supervision][restart]") {
  faulty(api, "renewed",
         {{"restart", "on-failure"},
          {"restart_delay_seconds", 0.2},
          {"restart_max_delay_seconds", 10},
          {"max_restarts", 1},
          {"restart_window_seconds", 1}});
  command_ok(api, "renewed", "start");

  for (int round = 1; round <= 2; ++round) {
    INFO("round " << round);
    if (round == 2) {
      // Running for longer than the window (1 s): the last restart left it.
      auto running_since = Clock::now();
      wait_until([&] { return elapsed_ms(running_since) >= 1300; }, 2s, 100ms);
    }
    auto before = last_seq(api);
    command_ok(api, "renewed", "fail", {{"reason", "round"}});
    auto status = status_of(api, "renewed");
    INFO(status.dump());
    // Not 0.4 s in round 2: the delay went back to 0.2 s.
    if (status["next_restart_in_seconds"].is_number())
      CHECK(status["next_restart_in_seconds"].get<double>() <= 0.2);
    // One restart allowed per window: round 2's is allowed again.
    REQUIRE(wait_for_state(api, "renewed", "running", 10s));
    CHECK(status_of(api, "renewed")["restarts"] == round);
    auto events = events_of(api, before);
    INFO(dump_events(events));
    REQUIRE(events.size() == 3);
    auto gap = time_of(events[1]) - time_of(events[0]);
    CHECK(gap >= 200);
    CHECK(gap <= 700);
  }
}

TEST_CASE("supervision: a start waits for the clean-up stop of a failure in flight",
          "[operations][supervision][failures]") {
  ServerProcess server({"--log-level", "info"});
  auto api = server.client();
  faulty(api, "careful", {{"stop_delay_ms", 600}});
  command_ok(api, "careful", "start");

  auto failed_at = Clock::now();
  command_ok(api, "careful", "fail", {{"reason", "gone"}});
  auto started = api.post("/services/careful/start");
  auto took = elapsed_ms(failed_at);
  E2E_CHECK_STATUS(started, 200);
  CHECK(state_of(api, "careful") == "running");
  // It waited for the clean-up: 600 ms from the failure on.
  INFO("failure to started: " << took << " ms");
  CHECK(took >= 600);
  // The manager saw stop, then start: never both at once.
  auto lines = lines_of(server.stderr_text());
  std::vector<std::string> calls;
  for (const auto& line : lines) {
    if (line.find("processpype.services.careful") == std::string::npos) continue;
    if (line.find("Faulty service started") != std::string::npos) calls.push_back("started");
    if (line.find("Faulty service stopped") != std::string::npos) calls.push_back("stopped");
  }
  INFO("stderr:\n" << server.stderr_text().substr(0, 4000));
  CHECK(calls == std::vector<std::string>{"started", "stopped", "started"});
}
