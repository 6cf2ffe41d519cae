// End-to-end tests of dependencies between instances (docs/supervision.md,
// "Dependencies") against the real `processpype` binary: the startup order
// from a YAML file, cycles and unknown names in the file (exit code 2), the
// cascaded stop, a failing dependency that stops and restarts its
// dependents, and DELETE refused while others depend on an instance.

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include <processpype/testing/checks.hpp>

#include "operations_support.hpp"

using namespace processpype::testing;
using namespace processpype::testing::operations;

namespace {

/// top -> middle -> bottom, listed in the file in reverse order (dependents
/// first). `bottom_fields` are extra YAML lines of bottom (6 spaces indent).
std::string chain_yaml(const std::string& bottom_type = "echo",
                       const std::string& bottom_fields = "") {
  return "services:\n"
         "  top:\n"
         "    type: echo\n"
         "    prefix: T\n"
         "    depends_on: [middle]\n"
         "  middle:\n"
         "    type: faulty\n"
         "    start_delay_ms: 100\n"
         "    depends_on: [bottom]\n"
         "  bottom:\n"
         "    type: " +
         bottom_type + "\n" + (bottom_fields.empty() ? "    enabled: true\n" : bottom_fields);
}

/// (service, state, cause) of each event.
using Step = std::tuple<std::string, std::string, std::string>;

std::vector<Step> steps_of(const std::vector<json>& events) {
  std::vector<Step> steps;
  for (const auto& event : events)
    steps.emplace_back(event.value("service", ""), event.value("state", ""),
                       event.value("cause", ""));
  return steps;
}

std::string describe(const std::vector<Step>& steps) {
  std::string text;
  for (const auto& [service, state, cause] : steps)
    text += service + " " + state + " (" + cause + ")\n";
  return text;
}

/// The index of the first step (service, state, cause) at or after `from`;
/// -1 when there is none.
std::ptrdiff_t index_of(const std::vector<Step>& steps, const Step& step, std::size_t from = 0) {
  auto found = std::find(steps.begin() + static_cast<std::ptrdiff_t>(from), steps.end(), step);
  return found == steps.end() ? -1 : found - steps.begin();
}

/// Whether one stderr line contains every one of `parts`.
bool one_line_has(const std::string& text, const std::vector<std::string>& parts) {
  for (const auto& line : lines_of(text)) {
    bool all = true;
    for (const auto& part : parts) all = all && line.find(part) != std::string::npos;
    if (all) return true;
  }
  return false;
}

/// Starts the binary with the configuration file `yaml`, which it must
/// refuse: CHECKs exit code 2 and returns the stderr.
std::string refusal_of(const std::string& yaml) {
  TempFile config(yaml);
  auto result = run_to_completion(
      {"--host", "127.0.0.1", "--port", std::to_string(free_port()), "--config", config.path()});
  check_exit(result.status, 2, result.err);
  return result.err;
}

bool all_running(HttpClient& api) {
  for (const auto* name : {"top", "middle", "bottom"})
    if (state_of(api, name) != "running") return false;
  return true;
}

}  // namespace

TEST_CASE(
    "dependencies: a three-level chain from YAML, listed in reverse, starts dependencies "
    "first (cause startup)",
    "[operations][dependencies]") {
  ConfiguredServer node(chain_yaml("faulty", "    start_delay_ms: 100\n"));
  auto& api = node.api;
  REQUIRE(wait_until([&] { return all_running(api); }, 15s));

  auto steps = steps_of(events_of(api));
  INFO(describe(steps));
  std::vector<Step> starts;
  for (const auto& step : steps)
    if (std::get<1>(step) == "starting" || std::get<1>(step) == "running") starts.push_back(step);
  std::vector<Step> expected = {{"bottom", "starting", "startup"}, {"bottom", "running", "startup"},
                                {"middle", "starting", "startup"}, {"middle", "running", "startup"},
                                {"top", "starting", "startup"},    {"top", "running", "startup"}};
  CHECK(starts == expected);
}

TEST_CASE("dependencies: a cycle in the YAML is exit code 2 naming it",
          "[operations][dependencies]") {
  auto err = refusal_of(R"(services:
  a:
    type: echo
    depends_on: [b]
  b:
    type: echo
    depends_on: [c]
  c:
    type: echo
    depends_on: [a]
  d:
    type: echo
)");
  INFO("stderr:\n" << err);
  // "dependency cycle a -> b -> c -> a", starting anywhere on the cycle.
  bool named = one_line_has(err, {"cycle", "a -> b -> c -> a"}) ||
               one_line_has(err, {"cycle", "b -> c -> a -> b"}) ||
               one_line_has(err, {"cycle", "c -> a -> b -> c"});
  CHECK(named);
}

TEST_CASE("dependencies: an unknown depends_on name in the YAML is exit code 2 naming it",
          "[operations][dependencies]") {
  auto err = refusal_of(R"(services:
  app:
    type: echo
    depends_on: [ghost]
)");
  INFO("stderr:\n" << err);
  CHECK(one_line_has(err, {"depends_on", "ghost"}));
}

TEST_CASE(
    "dependencies: stopping the bottom of a chain stops its dependents first "
    "(cause dependency) and replies when all have stopped",
    "[operations][dependencies]") {
  ConfiguredServer node(chain_yaml());
  auto& api = node.api;
  REQUIRE(wait_until([&] { return all_running(api); }, 15s));

  auto before = last_seq(api);
  command_ok(api, "bottom", "stop");
  // The reply came after all of them stopped.
  for (const auto* name : {"top", "middle", "bottom"}) {
    INFO(name);
    CHECK(state_of(api, name) == "stopped");
  }
  auto steps = steps_of(events_of(api, before));
  INFO(describe(steps));
  std::vector<Step> expected = {
      {"top", "stopping", "dependency"},    {"top", "stopped", "dependency"},
      {"middle", "stopping", "dependency"}, {"middle", "stopped", "dependency"},
      {"bottom", "stopping", "request"},    {"bottom", "stopped", "request"}};
  CHECK(steps == expected);

  // A dependent cannot start while its dependency is not running.
  auto refused = api.post("/services/middle/start");
  E2E_CHECK_STATUS(refused, 409);
  CHECK(refused.detail() == "Cannot start middle: dependency bottom is not running");
  // Started bottom-up, each works again.
  for (const auto* name : {"bottom", "middle", "top"})
    E2E_CHECK_STATUS(api.post(std::string("/services/") + name + "/start"), 200);
  CHECK(all_running(api));
}

TEST_CASE(
    "dependencies: a failing dependency stops its dependents, which start again when it "
    "runs",
    "[operations][dependencies]") {
  ConfiguredServer node(chain_yaml("faulty",
                                   "    restart: on-failure\n"
                                   "    restart_delay_seconds: 0.2\n"));
  auto& api = node.api;
  REQUIRE(wait_until([&] { return all_running(api); }, 15s));

  auto before = last_seq(api);
  command_ok(api, "bottom", "fail", {{"reason", "database lost"}});
  bool recovered = wait_until(
      [&] { return all_running(api) && status_of(api, "bottom")["restarts"] == 1; }, 15s);
  auto steps = steps_of(events_of(api, before));
  INFO(describe(steps));
  REQUIRE(recovered);

  auto failed = index_of(steps, {"bottom", "error", "failure"});
  auto top_stopping = index_of(steps, {"top", "stopping", "dependency"});
  auto top_stopped = index_of(steps, {"top", "stopped", "dependency"});
  auto middle_stopping = index_of(steps, {"middle", "stopping", "dependency"});
  auto middle_stopped = index_of(steps, {"middle", "stopped", "dependency"});
  auto restarting = index_of(steps, {"bottom", "starting", "restart"});
  auto restarted = index_of(steps, {"bottom", "running", "restart"});
  auto middle_starting = index_of(steps, {"middle", "starting", "dependency"});
  auto middle_running = index_of(steps, {"middle", "running", "dependency"});
  auto top_starting = index_of(steps, {"top", "starting", "dependency"});
  auto top_running = index_of(steps, {"top", "running", "dependency"});
  CHECK(failed == 0);
  // Dependents stopped, top first.
  CHECK(top_stopping > failed);
  CHECK(top_stopped > top_stopping);
  CHECK(middle_stopping > top_stopped);
  CHECK(middle_stopped > middle_stopping);
  // Once bottom runs again, middle then top start again.
  CHECK(restarting > failed);
  CHECK(restarted > restarting);
  CHECK(middle_starting > restarted);
  CHECK(middle_starting > middle_stopped);
  CHECK(middle_running > middle_starting);
  CHECK(top_starting > middle_running);
  CHECK(top_running > top_starting);
  // Nothing else happened to them.
  CHECK(steps.size() == 11);
}

TEST_CASE("dependencies: DELETE of an instance that others depend on is 409 naming the dependents",
          "[operations][dependencies]") {
  ConfiguredServer node(chain_yaml() + R"(  side:
    type: echo
    depends_on: [bottom]
)");
  auto& api = node.api;
  REQUIRE(wait_until([&] { return all_running(api) && state_of(api, "side") == "running"; }, 15s));

  auto bottom = api.del("/services/bottom");
  E2E_CHECK_STATUS(bottom, 409);
  INFO(bottom.describe());
  CHECK(bottom.detail().find("middle") != std::string::npos);
  CHECK(bottom.detail().find("side") != std::string::npos);
  auto middle = api.del("/services/middle");
  E2E_CHECK_STATUS(middle, 409);
  CHECK(middle.detail().find("top") != std::string::npos);
  // Refused means untouched.
  CHECK(all_running(api));
  CHECK(state_of(api, "side") == "running");

  // From the top down, each DELETE is allowed once nothing depends on it.
  for (const auto* name : {"top", "side", "middle", "bottom"}) {
    INFO(name);
    E2E_CHECK_STATUS(api.del(std::string("/services/") + name), 200);
  }
  CHECK(service_names(api).empty());
}

TEST_CASE(
    "dependencies: a restart waits while its dependency is not running, then starts "
    "(not a failure)",
    "[operations][dependencies][restart]") {
  ConfiguredServer node(R"(services:
  worker:
    type: faulty
    depends_on: [store]
    restart: on-failure
    restart_delay_seconds: 1.0
  store:
    type: echo
    prefix: S
)");
  auto& api = node.api;
  REQUIRE(wait_until(
      [&] { return state_of(api, "worker") == "running" && state_of(api, "store") == "running"; },
      15s));

  auto before = last_seq(api);
  command_ok(api, "worker", "fail", {{"reason", "crashed"}});
  // Within the restart delay, its dependency goes away.
  command_ok(api, "store", "stop");
  CHECK(state_of(api, "store") == "stopped");
  // Past the delay (1 s) the restart has not happened and has not failed.
  bool moved = wait_until(
      [&] {
        for (const auto& event : events_of(api, before))
          if (is_event(event, "worker", "starting") ||
              (is_event(event, "worker", "error") && event["error"] != "crashed"))
            return true;
        return false;
      },
      1500ms, 50ms);
  CHECK_FALSE(moved);
  auto waiting = status_of(api, "worker");
  INFO(waiting.dump());
  CHECK(waiting["state"] == "error");
  CHECK(waiting["error"] == "crashed");

  // Once store runs, worker is started again, by its restart.
  command_ok(api, "store", "start");
  REQUIRE(wait_for_state(api, "worker", "running", 10s));
  auto steps = steps_of(events_of(api, before));
  INFO(describe(steps));
  std::size_t failures = 0;
  for (const auto& step : steps)
    if (std::get<0>(step) == "worker" && std::get<1>(step) == "error") ++failures;
  CHECK(failures == 1);
  auto store_running = index_of(steps, {"store", "running", "request"});
  auto worker_starting = index_of(steps, {"worker", "starting", "restart"});
  CHECK(store_running >= 0);
  CHECK(worker_starting > store_running);
  CHECK(status_of(api, "worker")["restarts"] == 1);
}

TEST_CASE(
    "dependencies: a failed dependency started by hand brings back the dependents it "
    "stopped, not one the user had stopped",
    "[operations][dependencies]") {
  ConfiguredServer node(R"(services:
  reader:
    type: echo
    depends_on: [db]
  writer:
    type: echo
    depends_on: [db]
  db:
    type: faulty
)");
  auto& api = node.api;
  REQUIRE(wait_until(
      [&] {
        return state_of(api, "reader") == "running" && state_of(api, "writer") == "running" &&
               state_of(api, "db") == "running";
      },
      15s));
  command_ok(api, "writer", "stop");

  auto before = last_seq(api);
  command_ok(api, "db", "fail", {{"reason", "disk"}});
  REQUIRE(wait_for_state(api, "reader", "stopped", 10s));
  CHECK(state_of(api, "db") == "error");  // restart: never

  command_ok(api, "db", "start");
  REQUIRE(wait_for_state(api, "reader", "running", 10s));
  auto steps = steps_of(events_of(api, before));
  INFO(describe(steps));
  CHECK(index_of(steps, {"reader", "stopped", "dependency"}) >= 0);
  CHECK(index_of(steps, {"reader", "starting", "dependency"}) >
        index_of(steps, {"db", "running", "request"}));
  // writer was stopped by the user before: it stays stopped.
  CHECK(state_of(api, "writer") == "stopped");
  for (const auto& step : steps) CHECK(std::get<0>(step) != "writer");
}
