// A node's side of docs/communications.md, through the embedding API and a
// real webhook receiver: emit from a service (the docs' snippet) and from
// the embedding program, the node's alerts (failures, give-ups, failovers,
// lost nodes) and their throttle, and the flush at the Runtime's end.
#include <regex>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "message_checks.hpp"
#include "node_fixture.hpp"
#include "processpype/runtime/routes.hpp"
#include "processpype/runtime/service.hpp"

using namespace processpype::testing;
using nlohmann::json;
using processpype::EventCause;
using processpype::RouteRequest;
using processpype::Trigger;

namespace {

// [snippet:emit]
/// Tells the operators (label `ops`) when a disk it is told about fills up.
class DiskWatch : public processpype::Service {
 public:
  using Service::Service;

  void add_routes(processpype::ServiceRoutes& routes) override {
    routes.post("/usage", [this](const processpype::RouteRequest& request) {
      int used = request.body.value("used_percent", 0);
      if (used >= 90)
        emit({.message = "disk " + std::to_string(used) + "% full",  // source: this instance
              .label = "ops",
              .severity = "warning",
              .metadata = {{"used_percent", used}}});
      return processpype::RouteResponse::ok({{"used_percent", used}});
    });
  }
};
// [snippet-end:emit]

/// An instance `disk` of DiskWatch, running.
void start_disk_watch(processpype::Runtime& runtime) {
  runtime.register_service<DiskWatch>(std::string{"disk"});
  runtime.configure("disk", json::object());
  runtime.start("disk");
}

void report_usage(processpype::Runtime& runtime, int used_percent) {
  RouteRequest request;
  request.method = "POST";
  request.path = "/usage";
  request.body = {{"used_percent", used_percent}};
  REQUIRE(runtime.call_route("disk", request).status == 200);
}

/// ISO 8601 UTC with milliseconds, as docs/communications.md says `time` is.
bool is_utc_milliseconds(const json& time) {
  static const std::regex format{R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"};
  return time.is_string() && std::regex_match(time.get<std::string>(), format);
}

Trigger failover_from(std::string node) {
  Trigger trigger{EventCause::failover};
  trigger.from_node = std::move(node);
  return trigger;
}

/// Appends an error event of instance `name`: its alert comes after every
/// alert of what happened before, so once it arrived nothing else is on its
/// way (one backend sends in order).
void append_marker(processpype::Runtime& runtime, const std::string& name = "marker") {
  runtime.event_log().append(name, "error", "the end of the test's events", EventCause::failure);
}

}  // namespace

TEST_CASE(
    "a service's emit reaches the backends of its label, from the instance, with node and "
    "time",
    "[communications][node]") {
  HttpReceiver ops;
  HttpReceiver alerts_only;
  auto communications = hook_to(ops, {"ops", "default"});
  communications.backends.push_back(
      webhook_backend("pager", alerts_only.url("/pager"), {"alerts"}));
  TestNode node{communications};
  start_disk_watch(node.runtime());

  report_usage(node.runtime(), 50);  // nothing to say
  report_usage(node.runtime(), 95);
  REQUIRE(ops.wait_for_requests(1));
  REQUIRE(node->dispatcher()->flush(5s));
  auto sent = ops.bodies();
  REQUIRE(sent.size() == 1);
  const auto& body = sent[0];
  check_fields(body, {{"message", "disk 95% full"},
                      {"label", "ops"},
                      {"source", "disk"},
                      {"severity", "warning"},
                      {"subject", ""},
                      {"metadata", {{"used_percent", 95}}},
                      {"node", "node-1"}});
  CHECK(is_utc_milliseconds(body["time"]));
  CHECK(ops.requests()[0].path == "/hook");
  CHECK(alerts_only.requests().empty());  // label routing: `pager` handles alerts only
}

TEST_CASE("Runtime::emit sends for the embedding program, from the node unless it names a source",
          "[communications][node]") {
  HttpReceiver receiver;
  TestNode node{hook_to(receiver)};
  node->emit({.message = "nightly import done"});
  node->emit({.message = "import slow", .source = "importer", .severity = "warning"});
  REQUIRE(receiver.wait_for_requests(2));
  auto sent = receiver.bodies();
  CHECK(sent[0]["source"] == "node-1");
  CHECK(sent[0]["label"] == "default");
  CHECK(sent[0]["severity"] == "info");
  CHECK(sent[1]["source"] == "importer");
  CHECK(sent[1]["severity"] == "warning");
}

TEST_CASE("messages carry the id a node learns when it publishes", "[communications][node]") {
  HttpReceiver receiver;
  TestNode node{hook_to(receiver), ""};
  auto port = node->publish(0);
  REQUIRE(node->node_id().ends_with(":" + std::to_string(port)));
  node->emit({.message = "published"});
  REQUIRE(receiver.wait_for_requests(1));
  auto body = receiver.bodies().at(0);
  CHECK(body["node"] == node->node_id());
  CHECK(body["source"] == node->node_id());
}

TEST_CASE("without communications emit does nothing and nothing runs for it",
          "[communications][node]") {
  TestNode node{std::nullopt};
  CHECK(node->dispatcher() == nullptr);
  start_disk_watch(node.runtime());
  report_usage(node.runtime(), 99);  // the route answers as ever
  node->emit({.message = "nobody listens"});
}

TEST_CASE("a message emitted right before the Runtime ends is delivered: the end flushes",
          "[communications][node]") {
  HttpReceiver receiver;
  TestNode node{hook_to(receiver)};
  node->emit({.message = "last words"});
  node.end();
  // The receiver records a request before it answers it.
  auto sent = receiver.bodies();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0]["message"] == "last words");
}

TEST_CASE(
    "alerts: one per instance per interval, each instance apart, a give-up always goes and "
    "says how many were held back",
    "[communications][alerts]") {
  HttpReceiver receiver;
  TestNode node{hook_to(receiver, {"alerts"}, true, 60s)};
  auto& log = node->event_log();
  log.append("x", "error", "boom 1", EventCause::failure);
  log.append("x", "error", "boom 2", EventCause::failure);
  log.append("y", "error", "Health check failed 3 times: slow", EventCause::health);
  log.append("x", "running", "", EventCause::restart);  // not an alert
  log.append("x", "error", "boom 3", EventCause::failure);
  log.append("x", "error", "boom 4; gave up after 3 restarts in 60 s", EventCause::failure, true);
  REQUIRE(receiver.wait_for_requests(3));
  append_marker(node.runtime());
  REQUIRE(receiver.wait_for_requests(4));
  auto sent = receiver.bodies();
  REQUIRE(sent.size() == 4);

  check_fields(sent[0], {{"label", "alerts"},
                         {"severity", "error"},
                         {"source", "x"},
                         {"message", "Instance x failed on node node-1: boom 1"}});
  check_fields(sent[0]["metadata"], {{"alert", "failure"}, {"held_back", 0}});
  check_fields(sent[0]["metadata"]["event"], {{"seq", 1}, {"error", "boom 1"}});

  CHECK(sent[1]["source"] == "y");
  CHECK(sent[1]["metadata"]["event"]["cause"] == "health");

  CHECK(sent[2]["source"] == "x");
  CHECK(sent[2]["metadata"]["alert"] == "give_up");
  CHECK(sent[2]["metadata"]["held_back"] == 2);
  CHECK(sent[2]["message"] ==
        "Instance x failed on node node-1 and will not be restarted: boom 4; gave up after 3 "
        "restarts in 60 s (2 earlier alerts about x held back)");
  CHECK(sent[3]["source"] == "marker");
}

TEST_CASE("alerts off: failures send nothing", "[communications][alerts]") {
  HttpReceiver receiver;
  TestNode node{hook_to(receiver, {"alerts", "default"}, false)};
  node->event_log().append("x", "error", "boom", EventCause::failure);
  node->emit({.message = "after the failure"});
  REQUIRE(receiver.wait_for_requests(1));
  REQUIRE(node->dispatcher()->flush(5s));
  auto sent = receiver.bodies();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0]["message"] == "after the failure");
}

TEST_CASE("a restart loop of `faulty` alerts its first failure, then its give-up",
          "[communications][alerts]") {
  HttpReceiver receiver;
  TestNode node{hook_to(receiver, {"alerts"}, true, 60s)};
  node->register_service("faulty", std::string{"flaky"});
  node->configure("flaky", {{"fail_starts", 10},
                            {"restart", "on-failure"},
                            {"restart_delay_seconds", 0.01},
                            {"max_restarts", 3}});
  CHECK_THROWS(node->start("flaky"));
  REQUIRE(receiver.wait_for_requests(2));

  // The give-up is the instance's last event: once its alert is in, no other
  // can follow.
  auto sent = receiver.bodies();
  REQUIRE(sent.size() == 2);
  CHECK(sent[0]["metadata"]["alert"] == "failure");
  CHECK(sent[0]["metadata"]["held_back"] == 0);
  CHECK_THAT(sent[0]["message"].get<std::string>(), Catch::Contains("planned failure 1 of 10"));
  CHECK(sent[1]["metadata"]["alert"] == "give_up");
  CHECK(sent[1]["metadata"]["held_back"] == 2);
  CHECK_THAT(sent[1]["message"].get<std::string>(), Catch::Contains("gave up after 3 restarts"));

  std::vector<bool> gave_up;
  for (const auto& event : node->event_log().since(0).events)
    if (event.service == "flaky" && event.state == "error") gave_up.push_back(event.gave_up);
  CHECK(gave_up == std::vector<bool>{false, false, false, true});
}

TEST_CASE("a failover is one alert, however many events of the instance carry its cause",
          "[communications][alerts]") {
  HttpReceiver receiver;
  TestNode node{hook_to(receiver, {"alerts"}, true, 0ms)};  // no throttle here
  auto& log = node->event_log();
  log.append("store", "registered", "", failover_from("b"));
  log.append("store", "configured", "", failover_from("b"));
  log.append("store", "running", "", failover_from("b"));
  log.append("store", "stopped", "", EventCause::request);
  log.append("store", "registered", "", failover_from("c"));  // a failover again
  log.append("store", "running", "", failover_from("c"));
  append_marker(node.runtime());
  REQUIRE(receiver.wait_for_requests(3));
  auto sent = receiver.bodies();
  REQUIRE(sent.size() == 3);
  CHECK(sent[0]["message"] == "Instance store failed over to node node-1 from node b");
  CHECK(sent[0]["metadata"]["alert"] == "failover");
  CHECK(sent[0]["metadata"]["event"]["from_node"] == "b");
  CHECK(sent[0]["severity"] == "error");
  CHECK(sent[1]["message"] == "Instance store failed over to node node-1 from node c");
  CHECK(sent[2]["source"] == "marker");
}

TEST_CASE("a lost node is reported by the up node with the smallest id, one that left is not",
          "[communications][alerts]") {
  using Node = processpype::NodeDirectory::Node;
  HttpReceiver receiver;
  TestNode node{hook_to(receiver, {"alerts"}, true), "m"};
  auto& directory = *node->directory();
  for (const auto* id : {"a", "n", "z"}) {
    Node peer;
    peer.id = id;
    peer.address = "127.0.0.1:1";
    directory.put(peer);
  }

  directory.mark_down("z", "no heartbeat for 5.1 s");  // `a` reports it
  append_marker(node.runtime(), "marker-1");
  REQUIRE(receiver.wait_for_requests(1));
  // The reporter is chosen when the alert source reads the news: `a` is up.
  // Lost soon after (within twice node.down_after_seconds), `a` may have
  // died with `z` before it reported: `m`, now the smallest up, reports both.
  directory.mark_down("a", "its connection closed");
  directory.mark_down("n", "it left the cluster", true);
  append_marker(node.runtime(), "marker-2");
  REQUIRE(receiver.wait_for_requests(4));
  auto sent = receiver.bodies();
  REQUIRE(sent.size() == 4);
  CHECK(sent[0]["source"] == "marker-1");
  CHECK(sent[1]["source"] == "a");
  CHECK(sent[1]["message"] == "Node a is down: its connection closed (seen by node m)");
  CHECK(sent[1]["metadata"] ==
        json{{"alert", "node_down"}, {"reason", "its connection closed"}, {"held_back", 0}});
  CHECK(sent[2]["source"] == "z");
  CHECK(sent[2]["message"] == "Node z is down: no heartbeat for 5.1 s (seen by node m)");
  CHECK(sent[3]["source"] == "marker-2");
}
