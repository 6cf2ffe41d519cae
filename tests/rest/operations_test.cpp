// The operations routes: readiness, metrics, the OpenAPI document and the
// JSON event log.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "api_harness.hpp"

using namespace rest_tests;
using processpype::ServiceState;

// -- readiness --------------------------------------------------------------------------

TEST_CASE("GET /health/ready is ready while every enabled instance is settled") {
  ApiNode node;
  auto empty = node.get("/health/ready");
  INFO(empty);
  CHECK(empty.status == 200);
  CHECK(empty.data() == json{{"status", "ready"}});
  node.add_running("echo", "e1");
  node.add("counter", "c1");
  auto settled = node.get("/health/ready");
  INFO(settled);
  CHECK(settled.status == 200);
  CHECK(settled.data() == json{{"status", "ready"}});
}

TEST_CASE("an enabled instance in error makes the node not ready, and is listed") {
  ApiNode node;
  node.add("echo", "fine");
  node.add("faulty", "f1");
  REQUIRE(node.post("/services/f1/configure", json{{"fail_on", "start"}}).status == 200);
  auto start = node.post("/services/f1/start");
  INFO(start);
  CHECK(start.status == 500);
  CHECK(node.state_of("f1") == "error");

  auto ready = node.get("/health/ready");
  INFO(ready);
  CHECK(ready.status == 503);
  CHECK(ready.data() == json{{"status", "not ready"}, {"services", {{"f1", "error"}}}});
}

TEST_CASE("a disabled instance in error does not count against readiness") {
  ApiNode node;
  node.add("faulty", "f1");
  REQUIRE(
      node.post("/services/f1/configure", json{{"fail_on", "start"}, {"enabled", false}}).status ==
      200);
  CHECK(node.post("/services/f1/start").status == 500);
  REQUIRE(node.state_of("f1") == "error");
  auto ready = node.get("/health/ready");
  INFO(ready);
  CHECK(ready.status == 200);
}

TEST_CASE("the application state drives readiness and GET /") {
  ApiNode node;
  node.api().set_application_state(ServiceState::stopping);
  auto stopping = node.get("/health/ready");
  INFO(stopping);
  CHECK(stopping.status == 503);
  CHECK(stopping.data() == json{{"status", "shutting down"}});
  CHECK(node.get("/")["state"] == "stopping");
  CHECK(node.get("/health/live").status == 200);  // alive while shutting down

  node.api().set_application_state(ServiceState::starting);
  auto starting = node.get("/health/ready");
  INFO(starting);
  CHECK(starting.status == 503);
  CHECK(starting["status"] == "not ready");
  CHECK(node.get("/")["state"] == "starting");

  node.api().set_application_state(ServiceState::running);
  CHECK(node.get("/health/ready").status == 200);
}

// -- metrics --------------------------------------------------------------------------------

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("GET /metrics is Prometheus text with each instance's state") {
  ApiNode node;
  node.add_running("echo", "x");
  node.add("counter", "y");
  auto metrics = node.get("/metrics");
  INFO(metrics.body.substr(0, 2000));
  REQUIRE(metrics.status == 200);
  CHECK_THAT(metrics.content_type, Catch::StartsWith("text/plain; version=0.0.4"));
  CHECK(contains(metrics.body,
                 "processpype_service_state{service=\"x\",type=\"echo\",state=\"running\"} 1\n"));
  CHECK(contains(
      metrics.body,
      "processpype_service_state{service=\"y\",type=\"counter\",state=\"initialized\"} 1\n"));
  CHECK(contains(metrics.body, "processpype_services{state=\"running\"} 1\n"));
  CHECK(contains(metrics.body, "# TYPE processpype_http_requests_total counter"));
}

TEST_CASE("request metrics are labelled with the route template, never the raw path") {
  ApiNode node;
  node.add_running("echo", "x");
  REQUIRE(node.get("/services/x").status == 200);
  REQUIRE(node.post("/services/x/echo", json{{"message", "m"}}).status == 200);
  REQUIRE(node.get("/services/nobody").status == 404);
  REQUIRE(node.get("/no/such/path").status == 404);
  auto metrics = node.get("/metrics").body;
  INFO(metrics.substr(0, 3000));
  CHECK(contains(
      metrics,
      R"(processpype_http_requests_total{method="GET",route="/services/{name}",code="200"} 1)"));
  CHECK(contains(
      metrics,
      R"(processpype_http_requests_total{method="GET",route="/services/{name}",code="404"} 1)"));
  CHECK(contains(
      metrics,
      R"(processpype_http_requests_total{method="POST",route="/services/{name}/echo",code="200"} 1)"));
  CHECK(contains(
      metrics, R"(processpype_http_requests_total{method="GET",route="unmatched",code="404"} 1)"));
  CHECK(contains(
      metrics,
      R"(processpype_http_requests_total{method="POST",route="/services/register",code="200"} 1)"));
  CHECK_FALSE(contains(metrics, "route=\"/services/x\""));
  CHECK_FALSE(contains(metrics, "route=\"/services/nobody\""));
  CHECK_FALSE(contains(metrics, "route=\"/no/such/path\""));
}

// -- the OpenAPI document -------------------------------------------------------------------

TEST_CASE("GET /openapi.json documents every core route") {
  ApiNode node;
  auto reply = node.get("/openapi.json");
  REQUIRE(reply.status == 200);
  auto document = reply.data();
  CHECK(document["openapi"] == "3.1.0");
  CHECK(document["info"]["version"] == app_version);
  CHECK_FALSE(document.contains("servers"));
  const auto& paths = document["paths"];
  for (const auto& [path, method] : std::vector<std::pair<std::string, std::string>>{
           {"/", "get"},
           {"/health/live", "get"},
           {"/health/ready", "get"},
           {"/metrics", "get"},
           {"/openapi.json", "get"},
           {"/events", "get"},
           {"/ui", "get"},
           {"/docs", "get"},
           {"/nodes", "get"},
           {"/services", "get"},
           {"/services/register", "post"},
           {"/services/{name}", "get"},
           {"/services/{name}", "delete"},
           {"/services/{name}/start", "post"},
           {"/services/{name}/stop", "post"},
           {"/services/{name}/configure", "post"},
           {"/services/{name}/configure_and_start", "post"},
       }) {
    INFO(method << " " << path);
    REQUIRE(paths.contains(path));
    CHECK(paths[path].contains(method));
    CHECK(paths[path][method]["responses"].is_object());
  }
}

TEST_CASE("the OpenAPI document describes each class's configuration and routes") {
  ApiNode node;
  auto document = node.get("/openapi.json").data();
  const auto& schema = document["components"]["schemas"]["EchoServiceConfiguration"];
  REQUIRE(schema.is_object());
  CHECK(schema["type"] == "object");
  const auto& max_length = schema["properties"]["max_length"];
  CHECK(max_length["type"] == "integer");
  CHECK(max_length["exclusiveMinimum"] == 0);
  CHECK(max_length["default"] == 1000);
  CHECK(max_length["description"].is_string());
  CHECK_FALSE(max_length["description"].get<std::string>().empty());
  CHECK(schema["properties"].contains("restart"));  // base fields too

  const auto& echo = document["x-processpype-classes"]["echo"];
  CHECK(echo["type"] == "EchoService");
  REQUIRE(echo["routes"].is_array());
  bool has_echo_route = false;
  for (const auto& route : echo["routes"])
    if (route["method"] == "POST" && route["path"] == "/echo") has_echo_route = true;
  CHECK(has_echo_route);
  CHECK(document["paths"]["/services/{name}/echo"].contains("post"));
  CHECK(document["x-processpype-classes"].contains("counter"));
  CHECK(document["paths"]["/services/{name}/value"].contains("get"));
}

TEST_CASE("with an API prefix the OpenAPI document names it as its server") {
  ApiNode node{with_prefix("/api")};
  auto document = node.get("/api/openapi.json").data();
  CHECK(document["servers"] == json::array({{{"url", "/api"}}}));
  CHECK(document["paths"].contains("/services"));  // paths stay relative
}

// -- events ---------------------------------------------------------------------------------

namespace {

std::vector<std::uint64_t> seqs_of(const json& events) {
  std::vector<std::uint64_t> seqs;
  for (const auto& event : events) seqs.push_back(event["seq"].get<std::uint64_t>());
  return seqs;
}

}  // namespace

TEST_CASE("GET /events returns the node's events, seq increasing") {
  ApiNode node;
  node.add_running("echo", "e1");
  REQUIRE(node.post("/services/e1/stop").status == 200);
  auto reply = node.get("/events");
  INFO(reply);
  REQUIRE(reply.status == 200);
  auto events = reply["events"];
  REQUIRE(events.size() >= 4);
  auto seqs = seqs_of(events);
  for (std::size_t i = 1; i < seqs.size(); ++i) CHECK(seqs[i] > seqs[i - 1]);
  std::vector<std::string> states;
  for (const auto& event : events) {
    CHECK(event["service"] == "e1");
    CHECK(event["node"] == node_id);
    CHECK(event["boot"].is_string());
    CHECK(event["cause"] == "request");
    states.push_back(event["state"]);
  }
  CHECK(states.front() == "registered");
  CHECK(states.back() == "stopped");
  CHECK(std::find(states.begin(), states.end(), "running") != states.end());
}

TEST_CASE("GET /events?since= returns only later events") {
  ApiNode node;
  node.add("echo", "e1");
  auto before = node.get("/events")["events"];
  REQUIRE_FALSE(before.empty());
  auto last = before.back()["seq"].get<std::uint64_t>();
  node.add("echo", "e2");
  auto later = node.get("/events?since=" + std::to_string(last));
  INFO(later);
  REQUIRE(later.status == 200);
  auto events = later["events"];
  REQUIRE_FALSE(events.empty());
  for (const auto& event : events) {
    CHECK(event["seq"].get<std::uint64_t>() > last);
    CHECK(event["service"] == "e2");
  }
  auto none =
      node.get("/events?since=" + std::to_string(events.back()["seq"].get<std::uint64_t>()));
  CHECK(none["events"].empty());
}

TEST_CASE("GET /events refuses a since that is no sequence number and an unknown scope") {
  ApiNode node;
  for (const char* query : {"since=abc", "since=-1", "since=", "scope=planet"}) {
    auto reply = node.get(std::string{"/events?"} + query);
    INFO(reply);
    CHECK(reply.status == 400);
    CHECK(reply["detail"].is_string());
  }
}
