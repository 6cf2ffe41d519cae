// A node's side of docs/communications.md through the real `processpype`
// binary, with the section in its file and real webhook receivers on
// 127.0.0.1: the alerts a restart loop is allowed (and its give-up), a
// service's emit, a lost node reported once across a cluster, and a hanging
// webhook that requests never notice.
#include <algorithm>
#include <csignal>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "message_checks.hpp"
#include "processpype/testing/checks.hpp"
#include "processpype/testing/cluster.hpp"
#include "processpype/testing/server.hpp"
#include "receivers.hpp"

using namespace processpype::testing;
using nlohmann::json;

namespace {

/// An application file whose `communications` has one webhook `hook` at
/// `url` for `labels`, alerts on with `min_interval_seconds`; `rest` is
/// appended as is (services, node settings).
std::string config_with_hook(const std::string& url, const std::string& labels,
                             double min_interval_seconds, const std::string& rest = "") {
  return fmt::format(R"(communications:
  alerts: true
  alerts_min_interval_seconds: {}
  backends:
    hook:
      type: webhook
      labels: [{}]
      url: {}
      timeout_seconds: 30
{})",
                     min_interval_seconds, labels, url, rest);
}

ServerOptions with_config(const TempFile& config) {
  ServerOptions options;
  options.args = {"--config", config.path()};
  return options;
}

/// The received bodies whose metadata.alert is `alert`.
std::vector<json> alerts_of_kind(const std::vector<json>& sent, const std::string& alert) {
  std::vector<json> result;
  std::copy_if(sent.begin(), sent.end(), std::back_inserter(result), [&](const json& body) {
    return body.value("metadata", json::object()).value("alert", "") == alert;
  });
  return result;
}

/// Registers a `faulty` instance `name` that fails its start, once, and
/// starts it: its failure alert is the last of its node's alerts so far (a
/// node's alert source and a backend keep their order), so once it arrived
/// nothing earlier is still on its way.
void fail_marker(HttpClient& api, const std::string& name) {
  E2E_REQUIRE_STATUS(register_service(api, "faulty", name), 200);
  E2E_REQUIRE_STATUS(api.post("/services/" + name + "/configure", {{"fail_on", "start"}}), 200);
  api.post("/services/" + name + "/start");  // fails, as planned
}

/// Whether `status` is of an instance in `error` after `restarts`
/// restarts, with none pending: its policy gave up.
bool gave_up(const json& status, int restarts) {
  return status.is_object() && status.value("state", "") == "error" &&
         status.value("restarts", -1) == restarts && status.contains("next_restart_in_seconds") &&
         status["next_restart_in_seconds"].is_null();
}

bool received_from(const HttpReceiver& receiver, const std::string& source) {
  auto sent = receiver.bodies();
  return std::any_of(sent.begin(), sent.end(),
                     [&](const json& body) { return body.value("source", "") == source; });
}

/// A node started from config_with_hook(its receiver's /hook, `labels`,
/// `min_interval_seconds`, `rest`).
struct HookedNode {
  HookedNode(const std::string& labels, double min_interval_seconds, const std::string& rest,
             HttpReceiverOptions receiver_options = {})
      : receiver(receiver_options),
        config(config_with_hook(receiver.url("/hook"), labels, min_interval_seconds, rest)),
        server(with_config(config)),
        api(server.client()) {}

  HttpReceiver receiver;
  TempFile config;
  ServerProcess server;
  HttpClient api;
};

/// services: "flaky", a `faulty` instance that fails every start and is
/// restarted `max_restarts` times, `restart_delay` apart at first (doubling).
std::string flaky_services(double restart_delay, int max_restarts) {
  return fmt::format(R"(services:
  flaky:
    type: faulty
    fail_starts: 10
    restart: on-failure
    restart_delay_seconds: {}
    max_restarts: {}
    restart_window_seconds: 60
)",
                     restart_delay, max_restarts);
}

/// Waits until flaky gave up after `restarts`, then fails a marker
/// (fail_marker) and waits until it arrived, so that every alert before it
/// is in; requires `count` bodies, that marker's included, and returns them.
std::vector<json> alerts_until_give_up(HookedNode& node, int restarts, std::size_t count) {
  REQUIRE(wait_until([&] { return gave_up(status_of(node.api, "flaky"), restarts); }, 15s, 50ms));
  fail_marker(node.api, "marker");
  REQUIRE(wait_until([&] { return received_from(node.receiver, "marker"); }, 10s, 20ms));
  auto sent = node.receiver.bodies();
  INFO(json(sent).dump(2));
  REQUIRE(sent.size() == count);
  return sent;
}

}  // namespace

TEST_CASE("e2e: a restart loop of `faulty` sends the alerts its interval allows, then its give-up",
          "[communications][e2e]") {
  // Failures at about 0, d, 3d and 7d (the restart delay doubles, d = 0.5 s),
  // the fourth past max_restarts; the throttle goes by the events' times.
  // With an interval of 2d the second failure is held back (d after the
  // first), the third goes (3d after it) and says so, and the give-up goes
  // whatever the interval: every margin is d, more than a restart takes.
  HookedNode node("alerts", 1.0, flaky_services(0.5, 3));
  auto sent = alerts_until_give_up(node, 3, 4);
  INFO(json(sent).dump(2));
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(sent[i]["source"] == "flaky");
    CHECK(sent[i]["label"] == "alerts");
    CHECK(sent[i]["severity"] == "error");
    CHECK(sent[i]["metadata"]["event"]["service"] == "flaky");
    CHECK(sent[i]["metadata"]["event"]["state"] == "error");
  }
  CHECK(sent[0]["metadata"]["alert"] == "failure");
  CHECK(sent[0]["metadata"]["held_back"] == 0);
  CHECK_THAT(sent[0]["message"].get<std::string>(), Catch::Contains("planned failure 1 of 10"));
  CHECK(sent[1]["metadata"]["alert"] == "failure");
  CHECK(sent[1]["metadata"]["held_back"] == 1);
  CHECK_THAT(sent[1]["message"].get<std::string>(),
             Catch::Contains("planned failure 3 of 10") &&
                 Catch::EndsWith("(1 earlier alert about flaky held back)"));
  CHECK(sent[2]["metadata"]["alert"] == "give_up");
  CHECK(sent[2]["metadata"]["held_back"] == 0);
  CHECK_THAT(sent[2]["message"].get<std::string>(),
             Catch::Contains("will not be restarted") && Catch::Contains("gave up after 3"));
  CHECK(sent[3]["source"] == "marker");

  // The counters of /metrics say the same, once the last answer was read
  // (the receiver records a request before it answers).
  std::string metrics;
  CHECK(wait_until(
      [&] {
        metrics = node.api.get("/metrics").body;
        return metrics.find("processpype_messages_sent_total{backend=\"hook\"} 4") !=
               std::string::npos;
      },
      5s, 20ms));
  CHECK_THAT(metrics, Catch::Contains("processpype_messages_dropped_total{backend=\"hook\"} 0"));
}

TEST_CASE("e2e: a give-up is sent even when the interval held back every failure before it",
          "[communications][e2e]") {
  HookedNode node("alerts", 3600, flaky_services(0.01, 2));
  auto sent = alerts_until_give_up(node, 2, 3);
  INFO(json(sent).dump(2));
  CHECK(sent[0]["metadata"]["alert"] == "failure");
  CHECK(sent[1]["metadata"]["alert"] == "give_up");
  CHECK(sent[1]["metadata"]["held_back"] == 1);  // the second of three failures
  CHECK(sent[2]["source"] == "marker");
}

TEST_CASE("e2e: a service's emit reaches the webhook of its label with every field",
          "[communications][e2e]") {
  HookedNode node("ops", 60, "services:\n  echo: {}\n");
  auto& api = node.api;
  auto& receiver = node.receiver;
  REQUIRE(wait_for_state(api, "echo", "running"));

  E2E_REQUIRE_STATUS(api.post("/services/echo/emit", {{"message", "not for ops"}}), 200);
  auto emitted = api.post("/services/echo/emit", {{"message", "backup done"},
                                                  {"label", "ops"},
                                                  {"severity", "warning"},
                                                  {"subject", "Backup"},
                                                  {"metadata", {{"bytes", 1024}}}});
  E2E_REQUIRE_STATUS(emitted, 200);
  CHECK(emitted.field("emitted") == true);
  REQUIRE(receiver.wait_for_requests(1));

  auto request = receiver.requests().at(0);
  CHECK(request.path == "/hook");
  CHECK(request.headers["content-type"] == "application/json");
  const auto& body = request.body_json;
  check_fields(body, {{"message", "backup done"},
                      {"label", "ops"},
                      {"source", "echo"},
                      {"severity", "warning"},
                      {"subject", "Backup"},
                      {"metadata", {{"bytes", 1024}}}});
  CHECK(body["time"].is_string());
  auto nodes = nodes_of(api);  // the local node alone
  REQUIRE(nodes.size() == 1);
  CHECK(body["node"] == nodes.begin()->first);

  // The first message (label `default`, which no backend handles) went nowhere.
  E2E_REQUIRE_STATUS(api.post("/services/echo/emit", {{"message", "last"}, {"label", "ops"}}), 200);
  REQUIRE(receiver.wait_for_requests(2));
  CHECK(receiver.requests().size() == 2);
  CHECK(receiver.requests().at(1).body_json["message"] == "last");
}

TEST_CASE("e2e: a node lost from a 3-node cluster is reported once, by the smallest up id",
          "[communications][e2e][cluster]") {
  HttpReceiver receiver;
  TempFile config{config_with_hook(receiver.url("/hook"), "alerts", 60)};
  auto options = node_options();
  options.args = {"--config", config.path()};
  auto a = start_node("a", {}, 0, options);
  auto b = start_node("b", {a.node_port}, 0, options);
  auto c = start_node("c", {a.node_port, b.node_port}, 0, options);
  REQUIRE(time_until_all_up({a.http_port(), b.http_port(), c.http_port()}, {"a", "b", "c"}, 30s));

  auto killed_at = Clock::now();
  a.server->process().kill();  // kill -9: `b` is the smallest up id left
  auto seen = time_until_state({&b, &c}, "a", "down", killed_at, 15s);
  REQUIRE(seen["b"] >= 0);
  REQUIRE(seen["c"] >= 0);

  // Each survivor's marker comes after any alert it made of the loss.
  auto api_b = b.client();
  auto api_c = c.client();
  fail_marker(api_b, "marker-b");
  fail_marker(api_c, "marker-c");
  REQUIRE(wait_until(
      [&] { return received_from(receiver, "marker-b") && received_from(receiver, "marker-c"); },
      10s, 20ms));

  auto sent = receiver.bodies();
  INFO(json(sent).dump(2));
  auto down = alerts_of_kind(sent, "node_down");
  REQUIRE(down.size() == 1);
  CHECK(down[0]["source"] == "a");
  CHECK(down[0]["node"] == "b");
  CHECK(down[0]["severity"] == "error");
  CHECK_THAT(down[0]["message"].get<std::string>(),
             Catch::StartsWith("Node a is down: ") && Catch::EndsWith("(seen by node b)"));
  CHECK(sent.size() == 3);  // the loss and the two markers
}

TEST_CASE("e2e: a hanging webhook slows no request, and the node still stops at once",
          "[communications][e2e]") {
  HookedNode node("alerts, default", 0.01, R"(services:
  echo: {}
  flaky:
    type: faulty
    fail_starts: 1000
    restart: on-failure
    restart_delay_seconds: 0.05
    restart_max_delay_seconds: 0.05
    max_restarts: 1000
)",
                  {.hang = true});
  auto& api = node.api;
  auto& hanging = node.receiver;
  REQUIRE(wait_for_state(api, "echo", "running"));
  REQUIRE(hanging.wait_for_requests(1));  // the backend's sender is stuck in it now

  // Emits and alerts pile up behind it; every read answers as ever.
  double slowest_ms = 0;
  for (int i = 0; i < 100; ++i) {
    auto start = Clock::now();
    E2E_REQUIRE_STATUS(api.post("/services/echo/emit", {{"message", "m" + std::to_string(i)}}),
                       200);
    E2E_REQUIRE_STATUS(api.get("/services/flaky"), 200);
    slowest_ms = std::max(slowest_ms, elapsed_ms(start));
  }
  INFO("slowest emit + status read: " << slowest_ms << " ms");
  CHECK(slowest_ms < 1000);
  CHECK(hanging.requests().size() == 1);  // one transfer, still hanging

  auto stop_start = Clock::now();
  auto status = node.server.stop(SIGTERM, 15s);
  auto stop_ms = elapsed_ms(stop_start);
  INFO("exit: " << status.describe());
  CHECK((status.exited && status.code == 0));
  // The end gives the queues 2 s; the hanging transfer is aborted, not awaited.
  CHECK(stop_ms < 8000);
  CHECK_THAT(node.server.stderr_text(), Catch::Contains("messages unsent"));
}
