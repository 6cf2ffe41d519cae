// End-to-end tests of the operations surface against the real `processpype`
// binary: the health probes (/health/live, /health/ready, including from
// SIGTERM on), /metrics (every series, route templates, checked by promtool
// and scraped by a real Prometheus server), /openapi.json (validated by
// Python's jsonschema against the official OpenAPI 3.1 schema), per-logger
// levels and the access log, and the version and title of cluster nodes.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <processpype/testing/checks.hpp>

#include "operations_support.hpp"

using namespace processpype::testing;
using namespace processpype::testing::operations;

namespace {

const char* const python = "/usr/bin/python3";  // Debian's, with python3-jsonschema

std::vector<Sample> scrape(HttpClient& api) {
  auto response = api.get("/metrics");
  INFO(response.describe());
  REQUIRE(response.status == 200);
  return parse_samples(response.body);
}

/// GET /openapi.json: REQUIREs a 200 with a JSON body.
HttpResponse openapi_document(HttpClient& api) {
  auto response = api.get("/openapi.json");
  E2E_REQUIRE_STATUS(response, 200);
  REQUIRE(response.is_json());
  return response;
}

/// The lines of `text` that contain `part`.
std::vector<std::string> lines_with(const std::string& text, const std::string& part) {
  std::vector<std::string> found;
  for (const auto& line : lines_of(text))
    if (line.find(part) != std::string::npos) found.push_back(line);
  return found;
}

std::size_t count_lines_with(const std::string& text, const std::string& part) {
  return lines_with(text, part).size();
}

}  // namespace

// ---------------------------------------------------------------------------
// Health probes

TEST_CASE_METHOD(FreshServer, "health: /health/live is 200 {status: ok}", "[operations][health]") {
  auto live = api.get("/health/live");
  E2E_REQUIRE_STATUS(live, 200);
  CHECK(live.body_json == json{{"status", "ok"}});
  CHECK(live.header("Content-Type").find("application/json") == 0);
}

TEST_CASE_METHOD(FreshServer,
                 "health: /health/ready is 503 listing enabled instances in error or starting, "
                 "200 otherwise",
                 "[operations][health]") {
  register_started(api, "echo", "fine");
  auto ready = api.get("/health/ready");
  E2E_REQUIRE_STATUS(ready, 200);
  CHECK(ready.body_json == json{{"status", "ready"}});

  // A failed enabled instance: not ready, named with its state.
  register_ok(api, "faulty", "broken");
  E2E_CHECK_STATUS(api.post("/services/broken/configure_and_start", {{"fail_on", "start"}}), 500);
  auto not_ready = api.get("/health/ready");
  E2E_CHECK_STATUS(not_ready, 503);
  CHECK(not_ready.body_json == json{{"status", "not ready"}, {"services", {{"broken", "error"}}}});

  // A disabled instance in error does not count.
  register_ok(api, "faulty", "optional");
  E2E_CHECK_STATUS(api.post("/services/optional/configure_and_start",
                            {{"fail_on", "start"}, {"enabled", false}}),
                   500);
  CHECK(state_of(api, "optional") == "error");
  CHECK(api.get("/health/ready").body_json ==
        json{{"status", "not ready"}, {"services", {{"broken", "error"}}}});

  E2E_REQUIRE_STATUS(api.del("/services/broken"), 200);
  ready = api.get("/health/ready");
  E2E_CHECK_STATUS(ready, 200);
  CHECK(ready.body_json == json{{"status", "ready"}});

  // An enabled instance that is starting.
  register_ok(api, "faulty", "slow");
  command_ok(api, "slow", "configure", {{"start_delay_ms", 1500}});
  AsyncRequest start(server.port(), "", "POST", "/services/slow/start");
  HttpResponse starting;
  bool seen = wait_until(
      [&] {
        starting = api.get("/health/ready");
        return starting.status == 503 || start.done();
      },
      5s, 10ms);
  INFO(starting.describe());
  REQUIRE(seen);
  CHECK(starting.status == 503);
  CHECK(starting.body_json == json{{"status", "not ready"}, {"services", {{"slow", "starting"}}}});
  E2E_REQUIRE_STATUS(start.response(), 200);
  ready = api.get("/health/ready");
  E2E_CHECK_STATUS(ready, 200);

  // Stopped instances are not a reason either.
  command_ok(api, "fine", "stop");
  E2E_CHECK_STATUS(api.get("/health/ready"), 200);
  E2E_CHECK_STATUS(api.get("/health/live"), 200);
}

TEST_CASE("health: from SIGTERM on, /health/ready is 503 'shutting down' while a slow stop runs",
          "[operations][health][signals]") {
  ConfiguredServer node(R"(services:
  lingering:
    type: faulty
    stop_delay_ms: 4000
)");
  auto& api = node.api;
  REQUIRE(wait_for_state(api, "lingering", "running", 10s));
  E2E_REQUIRE_STATUS(api.get("/health/ready"), 200);

  node.server.process().signal(SIGTERM);
  HttpClient probe(node.server.port(), "", 1s);
  HttpResponse ready;
  bool shutting_down = wait_until(
      [&] {
        ready = probe.get("/health/ready");
        return ready.status == 503;
      },
      3s, 20ms);
  INFO(ready.describe());
  REQUIRE(shutting_down);
  CHECK(ready.body_json == json{{"status", "shutting down"}});
  // Still so a moment later, while the stop goes on; the node still lives.
  auto again = probe.get("/health/ready");
  E2E_CHECK_STATUS(again, 503);
  CHECK(again.body_json == json{{"status", "shutting down"}});
  E2E_CHECK_STATUS(probe.get("/health/live"), 200);

  auto exit = node.server.process().wait(20s);
  INFO(exit.describe() << "\nstderr:\n" << node.server.stderr_text().substr(0, 3000));
  CHECK(exit.code == 0);
}

// ---------------------------------------------------------------------------
// Metrics

TEST_CASE_METHOD(
    FreshServer,
    "metrics: every documented series is there, routes are templates, and promtool accepts "
    "the exposition",
    "[operations][metrics]") {
  register_started(api, "echo", "web");
  command_ok(api, "web", "echo", {{"message", "hi"}});
  E2E_REQUIRE_STATUS(api.get("/services/web"), 200);
  E2E_CHECK_STATUS(api.get("/services/nosuch"), 404);
  E2E_CHECK_STATUS(api.get("/no/such/path/7"), 404);
  register_ok(api, "faulty", "flaky");
  E2E_CHECK_STATUS(
      api.post("/services/flaky/configure_and_start",
               {{"fail_starts", 1}, {"restart", "on-failure"}, {"restart_delay_seconds", 0.05}}),
      500);
  REQUIRE(wait_for_state(api, "flaky", "running", 10s));
  register_ok(api, "counter", "idle");

  auto response = api.get("/metrics");
  E2E_REQUIRE_STATUS(response, 200);
  CHECK(response.header("Content-Type").find("text/plain; version=0.0.4") == 0);
  auto samples = parse_samples(response.body);
  INFO(response.body.substr(0, 6000));

  // Instances: one state series each, value 1.
  CHECK(sample_value(samples, "processpype_service_state",
                     {{"service", "web"}, {"type", "echo"}, {"state", "running"}}) == 1.0);
  CHECK(sample_value(samples, "processpype_service_state",
                     {{"service", "flaky"}, {"type", "faulty"}, {"state", "running"}}) == 1.0);
  CHECK(sample_value(samples, "processpype_service_state",
                     {{"service", "idle"}, {"type", "counter"}, {"state", "initialized"}}) == 1.0);
  for (const auto* name : {"web", "flaky", "idle"}) {
    INFO(name);
    CHECK(samples_of(samples, "processpype_service_state", {{"service", name}}).size() == 1);
  }
  // Per state counts of the node.
  CHECK(sample_value(samples, "processpype_services", {{"state", "running"}}) == 2.0);
  CHECK(sample_value(samples, "processpype_services", {{"state", "initialized"}}) == 1.0);
  CHECK(sample_value(samples, "processpype_services", {{"state", "error"}}) == 0.0);
  for (const auto* state :
       {"initialized", "configured", "starting", "running", "stopping", "stopped", "error"}) {
    INFO(state);
    CHECK(samples_of(samples, "processpype_services", {{"state", state}}).size() == 1);
  }
  // Transitions, failures, restarts.
  CHECK(sample_value(samples, "processpype_service_transitions_total",
                     {{"service", "web"}, {"state", "running"}}) == 1.0);
  CHECK(sample_value(samples, "processpype_service_transitions_total",
                     {{"service", "flaky"}, {"state", "starting"}}) == 2.0);
  CHECK(sample_value(samples, "processpype_service_transitions_total",
                     {{"service", "flaky"}, {"state", "error"}}) == 1.0);
  CHECK(sample_value(samples, "processpype_service_failures_total", {{"service", "flaky"}}) == 1.0);
  CHECK(sample_value(samples, "processpype_service_failures_total", {{"service", "web"}}) == 0.0);
  CHECK(sample_value(samples, "processpype_service_restarts_total", {{"service", "flaky"}}) == 1.0);
  CHECK(sample_value(samples, "processpype_service_restarts_total", {{"service", "web"}}) == 0.0);

  // HTTP, by route template.
  CHECK(sample_value(samples, "processpype_http_requests_total",
                     {{"method", "POST"}, {"route", "/services/{name}/start"}, {"code", "200"}}) ==
        1.0);
  CHECK(sample_value(samples, "processpype_http_requests_total",
                     {{"method", "POST"}, {"route", "/services/{name}/echo"}, {"code", "200"}}) ==
        1.0);
  CHECK(sample_value(samples, "processpype_http_requests_total",
                     {{"method", "GET"}, {"route", "/services/{name}"}, {"code", "404"}}) == 1.0);
  CHECK(sample_value(samples, "processpype_http_requests_total",
                     {{"method", "POST"},
                      {"route", "/services/{name}/configure_and_start"},
                      {"code", "500"}}) == 1.0);
  CHECK(sample_value(samples, "processpype_http_request_duration_seconds_count",
                     {{"method", "POST"}, {"route", "/services/{name}/echo"}}) == 1.0);
  CHECK(sample_value(samples, "processpype_http_request_duration_seconds_bucket",
                     {{"method", "POST"}, {"route", "/services/{name}/echo"}, {"le", "+Inf"}}) ==
        1.0);
  auto sum = sample_value(samples, "processpype_http_request_duration_seconds_sum",
                          {{"method", "POST"}, {"route", "/services/{name}/echo"}});
  REQUIRE(sum.has_value());
  CHECK(*sum >= 0);
  CHECK(*sum < 10);
  // No label carries a concrete path (instance names, unknown paths).
  for (const auto& sample : samples) {
    auto route = sample.labels.find("route");
    if (route == sample.labels.end()) continue;
    INFO(sample.name << " route=" << route->second);
    CHECK(route->second.find("web") == std::string::npos);
    CHECK(route->second.find("flaky") == std::string::npos);
    CHECK(route->second.find("nosuch") == std::string::npos);
    CHECK(route->second.find("/no/such") == std::string::npos);
  }

  // The node and the process.
  CHECK(sample_value(samples, "processpype_nodes", {{"state", "up"}}) == 1.0);
  auto rss = sample_value(samples, "process_resident_memory_bytes");
  REQUIRE(rss.has_value());
  auto rss_now = rss_kb(server.process().pid()) * 1024.0;
  CHECK(*rss > rss_now / 2);
  CHECK(*rss < rss_now * 2);
  auto cpu = sample_value(samples, "process_cpu_seconds_total");
  REQUIRE(cpu.has_value());
  CHECK(*cpu >= 0);
  auto fds = sample_value(samples, "process_open_fds");
  REQUIRE(fds.has_value());
  CHECK(*fds >= 3);
  auto start_time = sample_value(samples, "process_start_time_seconds");
  REQUIRE(start_time.has_value());
  auto now = static_cast<double>(std::time(nullptr));
  CHECK(*start_time <= now + 1);
  CHECK(*start_time >= now - 120);

  // promtool reads the exposition from its standard input.
  TempFile exposition(response.body, ".prom");
  auto promtool = find_program("promtool");
  REQUIRE(promtool.has_value());
  auto checked =
      run_program("/bin/sh", {"-c", *promtool + " check metrics < " + exposition.path()});
  INFO("promtool: " << checked.status.describe() << "\n" << checked.out << checked.err);
  CHECK(checked.status.code == 0);
}

TEST_CASE_METHOD(FreshServer, "metrics: a deregistered instance's series disappear",
                 "[operations][metrics]") {
  register_ok(api, "echo", "gone");
  register_ok(api, "echo", "kept");
  command_ok(api, "gone", "start");
  command_ok(api, "gone", "stop");

  auto with_service = [](const std::vector<Sample>& samples, const std::string& name) {
    return std::count_if(samples.begin(), samples.end(), [&](const Sample& sample) {
      auto label = sample.labels.find("service");
      return label != sample.labels.end() && label->second == name;
    });
  };
  auto before = scrape(api);
  CHECK(with_service(before, "gone") >= 4);  // state, transitions, failures, restarts
  CHECK(sample_value(before, "processpype_service_state", {{"service", "gone"}}) == 1.0);

  E2E_REQUIRE_STATUS(api.del("/services/gone"), 200);
  auto after = scrape(api);
  CHECK(with_service(after, "gone") == 0);
  CHECK(sample_value(after, "processpype_service_state", {{"service", "kept"}}) == 1.0);
  CHECK(sample_value(after, "processpype_services", {{"state", "stopped"}}) == 0.0);
}

TEST_CASE(
    "metrics: a real Prometheus server scrapes the node and its query API finds a running "
    "instance",
    "[operations][metrics][prometheus]") {
  auto prometheus = find_program("prometheus");
  REQUIRE(prometheus.has_value());
  ServerProcess server;
  auto api = server.client();
  register_started(api, "echo", "scraped");

  TempDirectory directory("processpype-prometheus");
  auto config = directory.write("prometheus.yml", R"(global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: processpype
    scrape_interval: 1s
    scrape_timeout: 1s
    metrics_path: /metrics
    static_configs:
      - targets: ['127.0.0.1:)" + std::to_string(server.port()) +
                                                      R"(']
)");
  const int web_port = free_port();
  // Killed (SIGKILL) by its destructor whatever happens below.
  ChildProcess prometheus_process(
      *prometheus,
      {"--config.file=" + config, "--web.listen-address=127.0.0.1:" + std::to_string(web_port),
       "--storage.tsdb.path=" + (directory.path() / "data").string(), "--log.level=warn"});
  HttpClient query(web_port, "", 2s);
  const auto path =
      "/api/v1/query?query=" +
      percent_encode(R"(processpype_service_state{service="scraped",state="running"})");
  HttpResponse answer;
  bool found = wait_until(
      [&] {
        if (!prometheus_process.alive()) return true;
        answer = query.get(path);
        auto data = answer.field("data");
        return answer.status == 200 && data.is_object() && data["result"].is_array() &&
               !data["result"].empty();
      },
      45s, 200ms);
  INFO("prometheus: " << answer.describe());
  INFO("targets: " << query.get("/api/v1/targets").describe());
  INFO("prometheus stderr: " << prometheus_process.stderr_text().substr(0, 3000));
  REQUIRE(found);
  REQUIRE(prometheus_process.alive());
  auto result = answer.field("data")["result"];
  REQUIRE(result.size() == 1);
  CHECK(result[0]["metric"]["service"] == "scraped");
  CHECK(result[0]["metric"]["type"] == "echo");
  CHECK(result[0]["metric"]["state"] == "running");
  CHECK(result[0]["value"][1] == "1");
  prometheus_process.kill();
}

// ---------------------------------------------------------------------------
// OpenAPI

TEST_CASE_METHOD(FreshServer,
                 "openapi: /openapi.json is valid against the official OpenAPI 3.1 schema "
                 "(jsonschema, Draft 2020-12)",
                 "[operations][openapi]") {
  auto response = openapi_document(api);
  const auto& document = response.body_json;
  CHECK(document.value("openapi", "").rfind("3.1.", 0) == 0);

  const auto data = operations_data_dir();
  const auto schema = data + "/openapi-3.1-schema-2022-10-07.json";
  const auto script = data + "/validate_openapi.py";
  REQUIRE(std::filesystem::exists(schema));
  TempFile saved(response.body, ".json");
  auto validated = run_program(python, {script, schema, saved.path()});
  INFO("validator: " << validated.status.describe() << "\n" << validated.out << validated.err);
  CHECK(validated.status.code == 0);

  // The validator does refuse what the schema forbids.
  auto broken = document;
  broken["paths"]["/services/{name}"]["get"]["parameters"][0]["in"] = "body";
  broken["info"].erase("title");
  TempFile bad(broken.dump(), ".json");
  auto refused = run_program(python, {script, schema, bad.path()});
  INFO("validator on a broken copy: " << refused.status.describe() << "\n"
                                      << refused.out << refused.err);
  CHECK(refused.status.code == 1);
  CHECK(refused.out.find("'body' is not one of") != std::string::npos);
  CHECK(refused.out.find("'title' is a required property") != std::string::npos);
}

TEST_CASE_METHOD(FreshServer,
                 "openapi: the echo class's schema: max_length is an integer > 0, default 1000, "
                 "described",
                 "[operations][openapi]") {
  auto response = openapi_document(api);
  auto document = response.body_json;  // a copy: operator[] may add keys
  auto reference = document["x-processpype-classes"]["echo"]["configuration"]["$ref"];
  REQUIRE(reference.is_string());
  const std::string prefix = "#/components/schemas/";
  auto ref = reference.get<std::string>();
  REQUIRE(ref.rfind(prefix, 0) == 0);
  auto echo = document["components"]["schemas"][ref.substr(prefix.size())];
  INFO(echo.dump(2));
  auto max_length = echo["properties"]["max_length"];
  REQUIRE(max_length.is_object());
  CHECK(max_length["type"] == "integer");
  CHECK(max_length["exclusiveMinimum"] == 0);
  CHECK(max_length["default"] == 1000);
  REQUIRE(max_length["description"].is_string());
  CHECK_FALSE(max_length["description"].get<std::string>().empty());
  CHECK(echo["properties"]["prefix"]["default"] == "Echo");
}

// ---------------------------------------------------------------------------
// Logging

TEST_CASE("logging: logging.loggers sets levels per logger, by prefix on dotted names",
          "[operations][logging]") {
  ConfiguredServer node(R"(logging:
  level: info
  format: text
  loggers:
    processpype.services.quiet: error
    processpype.services.group: warning
services:
  quiet:
    type: faulty
    stop_delay_ms: 0
  quieter:
    type: echo
    prefix: Q
  loud:
    type: echo
    prefix: L
  group.member:
    type: echo
    prefix: G
)");
  auto& api = node.api;
  for (const auto* name : {"quiet", "quieter", "loud", "group.member"}) {
    INFO(name);
    REQUIRE(wait_for_state(api, name, "running", 10s));
  }
  // quiet's failure is logged at error level: above its logger's level.
  command_ok(api, "quiet", "fail", {{"reason", "quiet breaks down"}});
  bool logged = wait_until(
      [&] {
        auto err = node.server.stderr_text();
        return count_lines_with(err, "quiet breaks down") >= 1 &&
               count_lines_with(err, "processpype.services.loud: Echo service ready") == 1 &&
               count_lines_with(err, "processpype.services.quieter: Echo service ready") == 1;
      },
      10s);
  auto err = node.server.stderr_text();
  INFO("stderr:\n" << err.substr(0, 5000));
  CHECK(logged);
  // Info lines of quiet and of the group (a dotted-name prefix) are hidden.
  CHECK(count_lines_with(err, "processpype.services.quiet: Faulty service started") == 0);
  CHECK(count_lines_with(err, "processpype.services.group.member:") == 0);
  // quiet's error line is there.
  auto failure = lines_with(err, "quiet breaks down");
  REQUIRE(failure.size() == 1);
  CHECK(failure[0].find("processpype.services.quiet") != std::string::npos);
  CHECK(failure[0].find("error") != std::string::npos);
  // Other loggers keep the global level.
  CHECK(count_lines_with(err, "processpype.app:") >= 1);
}

TEST_CASE(
    "logging: access_log writes one line per request: method, route template, status, "
    "duration, peer, request id",
    "[operations][logging]") {
  ConfiguredServer node(R"(logging:
  level: info
  access_log: true
services:
  acc:
    type: echo
    enabled: false
)");
  auto& api = node.api;
  E2E_REQUIRE_STATUS(api.get("/services/acc"), 200);
  command_ok(api, "acc", "start");
  command_ok(api, "acc", "echo", {{"message", "hello"}});
  E2E_CHECK_STATUS(api.get("/services/missing"), 404);
  // Requests that match no route have the route "unmatched".
  E2E_CHECK_STATUS(api.get("/no/such/path"), 404);
  E2E_CHECK_STATUS(api.del("/health/live"), 405);
  E2E_REQUIRE_STATUS(api.get("/metrics"), 200);

  const std::vector<std::string> expected = {"GET /services/{name} 200",
                                             "POST /services/{name}/start 200",
                                             "POST /services/{name}/echo 200",
                                             "GET /services/{name} 404",
                                             "GET unmatched 404",
                                             "DELETE unmatched 405",
                                             "GET /metrics 200"};
  bool all = wait_until(
      [&] {
        auto err = node.server.stderr_text();
        return std::all_of(expected.begin(), expected.end(), [&](const std::string& request) {
          return count_lines_with(err, "processpype.access: " + request + " ") >= 1;
        });
      },
      10s);
  auto err = node.server.stderr_text();
  INFO("stderr:\n" << err.substr(0, 5000));
  REQUIRE(all);
  // "<method> <route> <status> <ms> ms <peer> <request id>"
  const std::regex line_format(
      R"(processpype\.access: (GET|POST|DELETE) (/\S*|unmatched) (\d{3}) (\d+\.\d+) ms 127\.0\.0\.1:(\d+) [0-9a-f]{32}$)");
  auto access = lines_with(err, "processpype.access:");
  for (const auto& request : expected) {
    INFO(request);
    CHECK(count_lines_with(err, "processpype.access: " + request + " ") == 1);
  }
  for (const auto& line : access) {
    INFO(line);
    std::smatch match;
    REQUIRE(std::regex_search(line, match, line_format));
    // Templates, not names or paths. (Only the route: a random hex request
    // id may well hold "acc".)
    auto route = match[2].str();
    CHECK(route.find("acc") == std::string::npos);
    CHECK(route.find("missing") == std::string::npos);
    CHECK(route.find("/no/such") == std::string::npos);
  }
}

// ---------------------------------------------------------------------------
// Nodes

TEST_CASE(
    "nodes: GET /nodes gives each node's version and title, /nodes/{other}/ answers with the "
    "other's version",
    "[operations][nodes]") {
  TempFile config_a(R"(app:
  title: Node Alpha
  version: "1.0.0-alpha"
)");
  TempFile config_b(R"(app:
  title: Node Beta
  version: "2.0.0-beta"
)");
  auto options_a = node_options();
  options_a.args = {"--config", config_a.path()};
  auto a = start_node("a", {}, 0, options_a);
  auto options_b = node_options();
  options_b.args = {"--config", config_b.path()};
  auto b = start_node("b", {a.node_port}, 0, options_b);
  auto api_a = a.client();
  auto api_b = b.client();
  bool settled = wait_until(
      [&] {
        return node_state(api_a, "b") == "up" && node_state(api_b, "a") == "up" &&
               node_state(api_a, "a") == "up" && node_state(api_b, "b") == "up";
      },
      20s, 50ms);
  REQUIRE(settled);

  for (auto* api : {&api_a, &api_b}) {
    auto nodes = nodes_of(*api);
    INFO(api->get("/nodes").describe());
    REQUIRE(nodes.size() == 2);
    CHECK(nodes["a"]["version"] == "1.0.0-alpha");
    CHECK(nodes["a"]["title"] == "Node Alpha");
    CHECK(nodes["b"]["version"] == "2.0.0-beta");
    CHECK(nodes["b"]["title"] == "Node Beta");
  }
  auto own = api_a.get("/");
  E2E_REQUIRE_STATUS(own, 200);
  CHECK(own.field("version") == "1.0.0-alpha");
  auto other = api_a.get("/nodes/b/");
  E2E_REQUIRE_STATUS(other, 200);
  CHECK(other.field("version") == "2.0.0-beta");
  auto back = api_b.get("/nodes/a/");
  E2E_REQUIRE_STATUS(back, 200);
  CHECK(back.field("version") == "1.0.0-alpha");
}
