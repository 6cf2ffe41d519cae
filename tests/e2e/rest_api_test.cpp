// End-to-end tests of the REST API (docs/rest-api.md) and of the service lifecycle
// rules a client sees through it (docs/architecture.md, "Lifecycle"; docs/rest-api.md, "Services").
// Each test case starts its own `processpype` server (default registry, no instances).

#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <processpype/testing/checks.hpp>

using namespace processpype::testing;

namespace {

/// The status object of one instance has the documented shape.
void check_status_shape(const json& status) {
  INFO(status.dump());
  REQUIRE(status.is_object());
  CHECK(status.contains("state"));
  CHECK(status.contains("error"));
  CHECK(status.contains("metadata"));
  CHECK(status.contains("is_configured"));
  CHECK(status["state"].is_string());
  CHECK(status["metadata"].is_object());
  CHECK(status["is_configured"].is_boolean());
  CHECK((status["error"].is_null() || status["error"].is_string()));
}

/// Whether `detail` is exactly "Timed out <verb> faulty service after 1 s",
/// the 1 possibly written with a fraction of zeros ("1.0", "1.000"): the
/// regular expression `Timed out <verb> faulty service after 1(\.0+)? s`.
bool is_timed_out_after_1s(const std::string& detail, const std::string& verb) {
  const std::string head = "Timed out " + verb + " faulty service after 1";
  const std::string tail = " s";
  if (detail.size() < head.size() + tail.size()) return false;
  if (detail.compare(0, head.size(), head) != 0) return false;
  if (detail.compare(detail.size() - tail.size(), tail.size(), tail) != 0) return false;
  auto fraction = detail.substr(head.size(), detail.size() - head.size() - tail.size());
  if (fraction.empty()) return true;
  return fraction.size() >= 2 && fraction[0] == '.' &&
         fraction.find_first_not_of('0', 1) == std::string::npos;
}

/// POSTs /services/faulty/<command>, whose manager call outlasts its
/// timeout of 1 s: a 500 after about 1 s (the reply does not wait for the
/// stuck call) saying "Timed out <verb> faulty service after 1 s", and the
/// instance in error with that detail.
void check_times_out(HttpClient& api, const std::string& command, const std::string& verb) {
  auto started = Clock::now();
  auto failed = api.post("/services/faulty/" + command);
  auto took = elapsed_ms(started);
  E2E_CHECK_STATUS(failed, 500);
  CHECK(took >= 900);
  CHECK(took < 3500);
  INFO(failed.detail());
  CHECK(is_timed_out_after_1s(failed.detail(), verb));
  check_state(api, "faulty", "error", failed.detail());
}

/// Registers instance "faulty" whose manager takes `delay_ms` in `command`
/// (start or stop), sends that command (a stop after a start) on a
/// connection of its own, and returns once it is in flight: the instance
/// starting or stopping.
std::unique_ptr<AsyncRequest> slow_command_in_flight(const ServerProcess& server, HttpClient& api,
                                                     const std::string& command, int delay_ms) {
  register_configured(api, "faulty", {{command + "_delay_ms", delay_ms}});
  if (command == "stop") command_ok(api, "faulty", "start");
  auto request = std::make_unique<AsyncRequest>(server.port(), server.api_prefix(), "POST",
                                                "/services/faulty/" + command);
  REQUIRE(wait_for_state(api, "faulty", command == "start" ? "starting" : "stopping", 5s));
  return request;
}

/// Sends a stop while `in_flight` (the faulty instance's 1 s start or stop)
/// runs: the stop waits for it (at least the 300 ms left of it), both
/// answer 200 and the instance is stopped. The stop's response.
HttpResponse check_stop_waits_for(HttpClient& api, AsyncRequest& in_flight) {
  auto stopped = api.post("/services/faulty/stop");
  E2E_CHECK_STATUS(stopped, 200);
  CHECK(stopped.elapsed_ms >= 300);
  CHECK(state_of(api, "faulty") == "stopped");
  E2E_CHECK_STATUS(in_flight.response(), 200);
  CHECK(state_of(api, "faulty") == "stopped");
  return stopped;
}

}  // namespace

// ---------------------------------------------------------------------------
// GET / and GET /services

TEST_CASE_METHOD(FreshServer,
                 "GET / reports version, state running and the status of every instance",
                 "[e2e][rest]") {
  auto empty = api.get("/");
  E2E_REQUIRE_STATUS(empty, 200);
  CHECK(empty.header("Content-Type").find("application/json") != std::string::npos);
  REQUIRE(empty.field("version").is_string());
  CHECK_FALSE(empty.field("version").get<std::string>().empty());
  CHECK(empty.field("state") == "running");
  CHECK(empty.field("services") == json::object());

  register_ok(api, "echo");
  register_ok(api, "counter");
  command_ok(api, "echo", "start");

  auto full = api.get("/");
  E2E_REQUIRE_STATUS(full, 200);
  auto services = full.field("services");
  REQUIRE(services.is_object());
  REQUIRE(services.size() == 2);
  check_status_shape(services["echo"]);
  check_status_shape(services["counter"]);
  CHECK(services["echo"]["state"] == "running");
  CHECK(services["counter"]["state"] == "initialized");
  CHECK(services["counter"]["metadata"] == json::object());
}

TEST_CASE_METHOD(FreshServer, "GET /services lists the instances in registration order",
                 "[e2e][rest]") {
  auto empty = api.get("/services");
  E2E_REQUIRE_STATUS(empty, 200);
  CHECK(empty.body_json == json{{"services", json::array()}});

  register_ok(api, "counter");
  register_ok(api, "echo");
  register_ok(api, "store", "zeta");
  register_ok(api, "faulty", "alpha");
  command_ok(api, "echo", "start");
  command_ok(api, "alpha", "configure", json::object());

  auto listing = api.get("/services");
  E2E_REQUIRE_STATUS(listing, 200);
  auto services = listing.field("services");
  REQUIRE(services.is_array());
  REQUIRE(services.size() == 4);
  CHECK(service_names(api) == std::vector<std::string>{"counter", "echo", "zeta", "alpha"});
  for (const auto& entry : services) {
    INFO(entry.dump());
    CHECK(entry.contains("name"));
    CHECK(entry.contains("state"));
    CHECK(entry.contains("is_configured"));
    CHECK(entry.contains("error"));
  }
  CHECK(services[0]["state"] == "initialized");
  CHECK(services[0]["is_configured"] == false);
  CHECK(services[0]["error"].is_null());
  CHECK(services[1]["state"] == "running");
  CHECK(services[3]["state"] == "configured");
  CHECK(services[3]["is_configured"] == true);
}

// ---------------------------------------------------------------------------
// POST /services/register

TEST_CASE_METHOD(FreshServer,
                 "register answers the instance name and the C++ class name of every example class",
                 "[e2e][rest][register]") {
  const std::vector<std::pair<std::string, std::string>> classes = {
      {"echo", "EchoService"},     {"counter", "CounterService"}, {"ticker", "TickerService"},
      {"faulty", "FaultyService"}, {"store", "StoreService"},
  };
  for (const auto& [key, type] : classes) {
    auto response = register_service(api, key);
    E2E_REQUIRE_STATUS(response, 200);
    CHECK(response.body_json == json{{"status", "registered"}, {"service", key}, {"type", type}});
  }
  auto named = register_service(api, "echo", "my-echo.v2_X");
  E2E_REQUIRE_STATUS(named, 200);
  CHECK(named.body_json ==
        json{{"status", "registered"}, {"service", "my-echo.v2_X"}, {"type", "EchoService"}});
  auto status = status_of(api, "my-echo.v2_X");
  check_status_shape(status);
  CHECK(status["state"] == "initialized");
}

TEST_CASE_METHOD(FreshServer, "register without a name uses the key, then <key>_<n> until free",
                 "[e2e][rest][register]") {
  auto name_of = [&](const json& body) {
    auto response = api.post("/services/register", body);
    INFO(response.describe());
    REQUIRE(response.status == 200);
    return response.field("service").get<std::string>();
  };

  // Absent instance_name: the key, then n = how many names start with the key.
  CHECK(name_of({{"service_name", "echo"}}) == "echo");
  CHECK(name_of({{"service_name", "echo"}}) == "echo_1");
  CHECK(name_of({{"service_name", "echo"}}) == "echo_2");
  CHECK(name_of({{"service_name", "echo"}, {"instance_name", "echoes"}}) == "echoes");
  CHECK(name_of({{"service_name", "echo"}}) == "echo_4");
  // null instance_name means auto-naming too.
  CHECK(name_of({{"service_name", "echo"}, {"instance_name", nullptr}}) == "echo_5");

  // The key itself when it is free, even if <key>_1 is taken.
  CHECK(name_of({{"service_name", "counter"}, {"instance_name", "counter_1"}}) == "counter_1");
  CHECK(name_of({{"service_name", "counter"}}) == "counter");
  CHECK(name_of({{"service_name", "counter"}}) == "counter_2");

  // n is increased until the name is free.
  CHECK(name_of({{"service_name", "store"}, {"instance_name", "store_2"}}) == "store_2");
  CHECK(name_of({{"service_name", "store"}}) == "store");
  CHECK(name_of({{"service_name", "store"}}) == "store_3");

  CHECK(service_names(api) == std::vector<std::string>{"echo", "echo_1", "echo_2", "echoes",
                                                       "echo_4", "echo_5", "counter_1", "counter",
                                                       "counter_2", "store_2", "store", "store_3"});
}

TEST_CASE_METHOD(FreshServer, "register refuses a taken name with 409 and keeps the first instance",
                 "[e2e][rest][register]") {
  register_ok(api, "echo", "dup");
  command_ok(api, "dup", "configure", {{"prefix", "First"}});

  auto same_class = register_service(api, "echo", "dup");
  check_refused(same_class, 409);
  auto other_class = register_service(api, "counter", "dup");
  check_refused(other_class, 409);

  CHECK(service_names(api) == std::vector<std::string>{"dup"});
  auto status = status_of(api, "dup");
  CHECK(status["metadata"]["prefix"] == "First");
  CHECK(status["state"] == "configured");
}

TEST_CASE_METHOD(FreshServer,
                 "register refuses an unknown class with 404, before looking at the name",
                 "[e2e][rest][register]") {
  register_ok(api, "echo");

  auto unknown = register_service(api, "nope");
  check_refused(unknown, 404);
  CHECK(unknown.detail().find("nope") != std::string::npos);

  E2E_CHECK_STATUS(register_service(api, "nope", "echo"), 404);  // taken name
  E2E_CHECK_STATUS(register_service(api, "nope", "a/b"), 404);   // bad name
  E2E_CHECK_STATUS(register_service(api, "EchoService"), 404);   // class name is not the key
  CHECK(service_names(api) == std::vector<std::string>{"echo"});
}

TEST_CASE_METHOD(FreshServer, "register refuses bad instance names and bad bodies with 400",
                 "[e2e][rest][register]") {
  const std::vector<std::string> bad_names = {"",     ".",     "..",          std::string(65, 'a'),
                                              "a/b",  "a b",   "caf\xc3\xa9", "name?",
                                              "a\\b", "a%2Fb", "x:y"};
  for (const auto& name : bad_names) {
    auto response = register_service(api, "echo", name);
    INFO("instance_name: '" << name << "'");
    check_refused(response, 400);
  }

  const std::vector<json> bad_name_types = {5, true, json::object(), json::array({"a"})};
  for (const auto& name : bad_name_types) {
    INFO("instance_name: " << name.dump());
    auto response =
        api.post("/services/register", {{"service_name", "echo"}, {"instance_name", name}});
    check_refused(response, 400);
  }

  const std::vector<std::string> bad_bodies = {"{",
                                               "not json",
                                               "[]",
                                               "5",
                                               "\"echo\"",
                                               "null",
                                               "{}",
                                               R"({"service_name": 5})",
                                               R"({"service_name": null})",
                                               R"({"instance_name": "x"})",
                                               ""};
  for (const auto& body : bad_bodies) {
    INFO("body: '" << body << "'");
    auto response = api.post_raw("/services/register", body);
    check_refused(response, 400);
  }
  CHECK(service_names(api).empty());

  // The limits themselves are fine.
  register_ok(api, "echo", std::string(64, 'a'));
  register_ok(api, "echo", "A.b-c_9");
  register_ok(api, "echo", "x");
  CHECK(service_names(api).size() == 3);
}

// ---------------------------------------------------------------------------
// GET /services/{name} and configure

TEST_CASE_METHOD(FreshServer,
                 "every instance route answers 404 with a detail for an unknown instance",
                 "[e2e][rest]") {
  register_ok(api, "echo");

  std::vector<HttpResponse> responses;
  responses.push_back(api.get("/services/ghost"));
  responses.push_back(api.del("/services/ghost"));
  responses.push_back(api.post("/services/ghost/start"));
  responses.push_back(api.post("/services/ghost/stop"));
  responses.push_back(api.post("/services/ghost/configure", json::object()));
  responses.push_back(api.post("/services/ghost/configure_and_start", json::object()));
  responses.push_back(api.post("/services/ghost/echo", {{"message", "hi"}}));
  for (const auto& response : responses) {
    check_refused(response, 404);
  }
  CHECK(service_names(api) == std::vector<std::string>{"echo"});
}

TEST_CASE_METHOD(FreshServer,
                 "before any configure the status has metadata {} and is_configured false",
                 "[e2e][rest][configure]") {
  register_ok(api, "store");

  auto response = api.get("/services/store");
  E2E_REQUIRE_STATUS(response, 200);
  CHECK(response.header("Content-Type").find("application/json") != std::string::npos);
  check_status_shape(response.body_json);
  CHECK(response.field("state") == "initialized");
  CHECK(response.field("error").is_null());
  CHECK(response.field("metadata") == json::object());
  CHECK(response.field("is_configured") == false);
}

TEST_CASE_METHOD(
    FreshServer,
    "configure replaces the whole configuration and metadata has base fields, defaults, extras",
    "[e2e][rest][configure]") {
  register_ok(api, "echo");

  auto configured = api.post("/services/echo/configure",
                             {{"prefix", "Hi"}, {"extra_thing", {{"a", 1}, {"b", {true, "x"}}}}});
  E2E_REQUIRE_STATUS(configured, 200);
  CHECK(configured.body_json == json{{"status", "configured"}, {"service", "echo"}});

  auto status = status_of(api, "echo");
  check_status_shape(status);
  CHECK(status["state"] == "configured");
  CHECK(status["is_configured"] == true);
  CHECK(status["error"].is_null());
  auto metadata = status["metadata"];
  INFO(metadata.dump());
  CHECK(metadata["enabled"] == true);
  CHECK(metadata["autostart"] == false);
  REQUIRE(metadata["start_timeout_seconds"].is_number());
  REQUIRE(metadata["stop_timeout_seconds"].is_number());
  CHECK(metadata["start_timeout_seconds"].get<double>() == Approx(60.0));
  CHECK(metadata["stop_timeout_seconds"].get<double>() == Approx(60.0));
  CHECK(metadata["prefix"] == "Hi");
  CHECK(metadata["max_length"] == 1000);
  CHECK(metadata["extra_thing"] == json{{"a", 1}, {"b", {true, "x"}}});

  // A second configure replaces everything: no merge with the first.
  command_ok(api, "echo", "configure", {{"max_length", 5}, {"start_timeout_seconds", 2.5}});
  metadata = status_of(api, "echo")["metadata"];
  INFO(metadata.dump());
  CHECK(metadata["prefix"] == "Echo");
  CHECK(metadata["max_length"] == 5);
  CHECK(metadata["start_timeout_seconds"].get<double>() == Approx(2.5));
  CHECK(metadata["stop_timeout_seconds"].get<double>() == Approx(60.0));
  CHECK_FALSE(metadata.contains("extra_thing"));
}

TEST_CASE_METHOD(FreshServer, "configure with an empty body means {}", "[e2e][rest][configure]") {
  register_ok(api, "counter");

  auto response = api.post("/services/counter/configure");
  E2E_REQUIRE_STATUS(response, 200);
  auto status = status_of(api, "counter");
  CHECK(status["state"] == "configured");
  CHECK(status["is_configured"] == true);
  auto metadata = status["metadata"];
  INFO(metadata.dump());
  CHECK(metadata["initial_value"] == 0);
  CHECK(metadata["step"] == 1);
  CHECK(metadata["enabled"] == true);
  CHECK(metadata["autostart"] == false);
}

TEST_CASE_METHOD(FreshServer,
                 "configure types are strict: 422 naming the field, previous configuration kept",
                 "[e2e][rest][configure]") {
  for (const auto* key : {"echo", "counter", "ticker", "faulty", "store"}) register_ok(api, key);

  const std::map<std::string, json> valid = {
      {"echo", {{"prefix", "Kept"}, {"max_length", 7}}},
      {"counter", {{"initial_value", 3}, {"step", 2}}},
      {"ticker", {{"interval_seconds", 0.5}}},
      {"faulty", {{"fail_on", "none"}, {"start_delay_ms", 1}}},
      {"store", {{"capacity", 4}}},
  };
  for (const auto& [name, config] : valid)
    E2E_REQUIRE_STATUS(api.post("/services/" + name + "/configure", config), 200);

  struct Bad {
    std::string instance;
    std::string field;
    std::string raw_value;  // JSON text
  };
  const std::vector<Bad> bad = {
      // int fields: JSON integers within int64 only
      {"counter", "initial_value", "1.5"},
      {"counter", "initial_value", "\"1\""},
      {"counter", "initial_value", "true"},
      {"counter", "initial_value", "[1]"},
      {"counter", "initial_value", "9223372036854775808"},
      {"counter", "initial_value", "-9223372036854775809"},
      {"counter", "step", "2.0"},
      {"echo", "max_length", "10.0"},
      {"store", "capacity", "\"10\""},
      {"store", "capacity", "1.5"},
      {"faulty", "start_delay_ms", "\"5\""},
      // float fields: numbers only
      {"ticker", "interval_seconds", "\"1\""},
      {"ticker", "interval_seconds", "true"},
      {"echo", "start_timeout_seconds", "\"5\""},
      {"echo", "stop_timeout_seconds", "[]"},
      // bool fields: true/false only
      {"echo", "enabled", "1"},
      {"echo", "enabled", "\"true\""},
      {"counter", "autostart", "\"yes\""},
      {"counter", "autostart", "0"},
      // string fields: strings only
      {"echo", "prefix", "5"},
      {"echo", "prefix", "true"},
      {"echo", "prefix", "[\"a\"]"},
      {"echo", "prefix", "{}"},
      {"faulty", "fail_on", "1"},
      // service validation
      {"echo", "max_length", "0"},
      {"echo", "max_length", "-1"},
      {"counter", "step", "0"},
      {"counter", "step", "-3"},
      {"ticker", "interval_seconds", "0"},
      {"ticker", "interval_seconds", "0.0005"},
      {"ticker", "interval_seconds", "86400.5"},
      {"ticker", "interval_seconds", "-1"},
      {"faulty", "fail_on", "\"sometimes\""},
      {"faulty", "start_delay_ms", "-1"},
      {"faulty", "stop_delay_ms", "-1"},
      {"store", "capacity", "0"},
      {"store", "capacity", "-2"},
  };
  for (const auto& [instance, field, raw] : bad) {
    INFO(instance << ": {\"" << field << "\": " << raw << "}");
    auto response =
        api.post_raw("/services/" + instance + "/configure", "{\"" + field + "\": " + raw + "}");
    E2E_CHECK_STATUS(response, 422);
    CHECK(response.detail().find(field) != std::string::npos);
    auto status = status_of(api, instance);
    CHECK(status["state"] == "configured");
    CHECK(status["is_configured"] == true);
    for (const auto& [key, value] : valid.at(instance).items()) {
      INFO("metadata: " << status["metadata"].dump());
      CHECK(status["metadata"][key] == value);
    }
  }

  // The accepted edges: a float field takes an integer, an int field takes
  // the int64 extremes, the interval bounds are inclusive.
  E2E_CHECK_STATUS(api.post_raw("/services/ticker/configure", R"({"interval_seconds": 2})"), 200);
  CHECK(status_of(api, "ticker")["metadata"]["interval_seconds"].get<double>() == Approx(2.0));
  E2E_CHECK_STATUS(api.post_raw("/services/ticker/configure", R"({"interval_seconds": 0.001})"),
                   200);
  E2E_CHECK_STATUS(api.post_raw("/services/ticker/configure", R"({"interval_seconds": 86400})"),
                   200);
  E2E_CHECK_STATUS(
      api.post_raw("/services/counter/configure", R"({"initial_value": 9223372036854775807})"),
      200);
  CHECK(status_of(api, "counter")["metadata"]["initial_value"] ==
        json(std::numeric_limits<std::int64_t>::max()));
  E2E_CHECK_STATUS(
      api.post_raw("/services/counter/configure", R"({"initial_value": -9223372036854775808})"),
      200);
  E2E_CHECK_STATUS(api.post_raw("/services/echo/configure", R"({"start_timeout_seconds": 5})"),
                   200);
  for (const auto* fail_on : {"none", "start", "stop"}) {
    E2E_CHECK_STATUS(api.post("/services/faulty/configure", {{"fail_on", fail_on}}), 200);
  }
}

TEST_CASE_METHOD(FreshServer, "a required field that is missing is 422 naming it",
                 "[e2e][rest][configure]") {
  register_ok(api, "store");

  auto missing = api.post("/services/store/configure", json::object());
  E2E_CHECK_STATUS(missing, 422);
  CHECK(missing.detail().find("capacity") != std::string::npos);
  auto status = status_of(api, "store");
  CHECK(status["state"] == "initialized");
  CHECK(status["is_configured"] == false);
  CHECK(status["metadata"] == json::object());

  auto empty_body = api.post("/services/store/configure");
  E2E_CHECK_STATUS(empty_body, 422);
  CHECK(empty_body.detail().find("capacity") != std::string::npos);

  command_ok(api, "store", "configure", {{"capacity", 3}});
  CHECK(status_of(api, "store")["metadata"]["capacity"] == 3);
  // A later configure without it is refused and keeps capacity 3.
  E2E_CHECK_STATUS(api.post("/services/store/configure", {{"other", 1}}), 422);
  CHECK(status_of(api, "store")["metadata"]["capacity"] == 3);
}

TEST_CASE_METHOD(FreshServer,
                 "configure: non-object JSON is 422, malformed JSON is 400, state unchanged",
                 "[e2e][rest][configure]") {
  register_ok(api, "echo");

  for (const auto* body : {"[]", "[1, 2]", "5", "\"text\"", "null", "true"}) {
    INFO("body: " << body);
    auto response = api.post_raw("/services/echo/configure", body);
    check_refused(response, 422);
  }
  for (const auto* body : {"{", "{\"prefix\": }", "{'prefix': 'x'}", "prefix=x", "{\"a\":1}}"}) {
    INFO("body: " << body);
    auto response = api.post_raw("/services/echo/configure", body);
    check_refused(response, 400);
  }
  auto status = status_of(api, "echo");
  CHECK(status["state"] == "initialized");
  CHECK(status["is_configured"] == false);
  CHECK(status["metadata"] == json::object());

  // And from configured: the previous configuration stays.
  command_ok(api, "echo", "configure", {{"prefix", "Kept"}});
  E2E_CHECK_STATUS(api.post_raw("/services/echo/configure", "{"), 400);
  E2E_CHECK_STATUS(api.post_raw("/services/echo/configure", "[]"), 422);
  status = status_of(api, "echo");
  CHECK(status["state"] == "configured");
  CHECK(status["metadata"]["prefix"] == "Kept");
}

TEST_CASE_METHOD(FreshServer, "configure while running is 409 and changes nothing",
                 "[e2e][rest][configure]") {
  register_configured(api, "echo", {{"prefix", "Old"}});
  command_ok(api, "echo", "start");

  auto response = api.post("/services/echo/configure", {{"prefix", "New"}});
  check_refused(response, 409);
  auto status = status_of(api, "echo");
  CHECK(status["state"] == "running");
  CHECK(status["metadata"]["prefix"] == "Old");
  auto echoed = api.post("/services/echo/echo", {{"message", "x"}});
  CHECK(echoed.field("message") == "Old: x");

  // Allowed again once stopped.
  command_ok(api, "echo", "stop");
  E2E_CHECK_STATUS(api.post("/services/echo/configure", {{"prefix", "New"}}), 200);
  CHECK(status_of(api, "echo")["state"] == "configured");
}

// ---------------------------------------------------------------------------
// start / stop

TEST_CASE_METHOD(
    FreshServer,
    "start and stop reply when the transition is done and stop when idle changes nothing",
    "[e2e][rest][lifecycle]") {
  register_ok(api, "echo");

  // stop from initialized: 200, nothing happens.
  auto idle_stop = api.post("/services/echo/stop");
  E2E_CHECK_STATUS(idle_stop, 200);
  CHECK(idle_stop.body_json == json{{"status", "stopped"}, {"service", "echo"}});
  CHECK(state_of(api, "echo") == "initialized");

  // stop from configured: 200, still configured.
  command_ok(api, "echo", "configure", json::object());
  E2E_CHECK_STATUS(api.post("/services/echo/stop"), 200);
  CHECK(state_of(api, "echo") == "configured");

  auto started = api.post("/services/echo/start");
  E2E_REQUIRE_STATUS(started, 200);
  CHECK(started.body_json == json{{"status", "started"}, {"service", "echo"}});
  auto status = status_of(api, "echo");
  CHECK(status["state"] == "running");
  CHECK(status["error"].is_null());

  auto again = api.post("/services/echo/start");
  check_refused(again, 409);
  CHECK(state_of(api, "echo") == "running");

  auto stopped = api.post("/services/echo/stop");
  E2E_REQUIRE_STATUS(stopped, 200);
  CHECK(stopped.body_json == json{{"status", "stopped"}, {"service", "echo"}});
  CHECK(state_of(api, "echo") == "stopped");
  E2E_CHECK_STATUS(api.post("/services/echo/stop"), 200);
  CHECK(state_of(api, "echo") == "stopped");

  // Restart from stopped.
  E2E_CHECK_STATUS(api.post("/services/echo/start"), 200);
  CHECK(state_of(api, "echo") == "running");

  // A service that needs no configuration starts from initialized.
  register_ok(api, "counter");
  E2E_CHECK_STATUS(api.post("/services/counter/start"), 200);
  CHECK(state_of(api, "counter") == "running");
  CHECK(status_of(api, "counter")["is_configured"] == false);
}

TEST_CASE_METHOD(FreshServer, "a service that requires configuration refuses to start unconfigured",
                 "[e2e][rest][lifecycle]") {
  register_ok(api, "store");

  auto refused = api.post("/services/store/start");
  check_refused(refused, 409);
  auto status = status_of(api, "store");
  CHECK(status["state"] == "error");
  REQUIRE(status["error"].is_string());
  CHECK_THAT(status["error"].get<std::string>(), Catch::Contains("must be configured"));

  // Configure from error, then a successful start clears the error.
  command_ok(api, "store", "configure", {{"capacity", 1}});
  CHECK(state_of(api, "store") == "configured");
  command_ok(api, "store", "start");
  check_state(api, "store", "running");
}

TEST_CASE_METHOD(FreshServer,
                 "a manager exception on start is 500 with detail equal to status.error",
                 "[e2e][rest][lifecycle]") {
  register_configured(api, "faulty", {{"fail_on", "start"}});

  auto failed = api.post("/services/faulty/start");
  E2E_CHECK_STATUS(failed, 500);
  CHECK_THAT(failed.detail(), Catch::StartsWith("Failed to start faulty service: "));
  CHECK(failed.detail().size() > std::string("Failed to start faulty service: ").size());
  check_state(api, "faulty", "error", failed.detail());

  // The node is fine; from error the service can be reconfigured and started.
  E2E_CHECK_STATUS(api.get("/"), 200);
  command_ok(api, "faulty", "configure", {{"fail_on", "none"}});
  command_ok(api, "faulty", "start");
  check_state(api, "faulty", "running");
}

TEST_CASE_METHOD(FreshServer,
                 "a manager exception on stop is 500 'Failed to stop <name> service: ...'",
                 "[e2e][rest][lifecycle]") {
  register_ok(api, "faulty", "breaks");
  command_ok(api, "breaks", "configure", {{"fail_on", "stop"}});
  command_ok(api, "breaks", "start");

  auto failed = api.post("/services/breaks/stop");
  E2E_CHECK_STATUS(failed, 500);
  CHECK_THAT(failed.detail(), Catch::StartsWith("Failed to stop breaks service: "));
  check_state(api, "breaks", "error", failed.detail());

  // start is allowed from error and clears it.
  command_ok(api, "breaks", "start");
  check_state(api, "breaks", "running");
}

TEST_CASE_METHOD(FreshServer,
                 "a start that outlasts start_timeout_seconds is 500 and the node keeps serving",
                 "[e2e][rest][lifecycle][timeout]") {
  register_configured(api, "faulty", {{"start_delay_ms", 4000}, {"start_timeout_seconds", 1}});
  check_times_out(api, "start", "starting");

  // The manager call is still stuck: the node keeps answering.
  auto root = api.get("/");
  E2E_CHECK_STATUS(root, 200);
  CHECK(root.elapsed_ms < 1000);
  register_ok(api, "echo");
  E2E_CHECK_STATUS(api.post("/services/echo/start"), 200);
}

TEST_CASE_METHOD(FreshServer,
                 "a stop that outlasts stop_timeout_seconds is 500 and the node keeps serving",
                 "[e2e][rest][lifecycle][timeout]") {
  register_configured(api, "faulty", {{"stop_delay_ms", 4000}, {"stop_timeout_seconds", 1}});
  command_ok(api, "faulty", "start");
  check_times_out(api, "stop", "stopping");
  E2E_CHECK_STATUS(api.get("/services"), 200);
}

TEST_CASE_METHOD(FreshServer, "stop during a start waits for the start, then stops",
                 "[e2e][rest][lifecycle]") {
  auto start = slow_command_in_flight(server, api, "start", 1000);
  auto stopped = check_stop_waits_for(api, *start);
  CHECK(stopped.body_json == json{{"status", "stopped"}, {"service", "faulty"}});
}

TEST_CASE_METHOD(FreshServer, "a second stop while stopping waits for the stop in flight",
                 "[e2e][rest][lifecycle]") {
  auto first = slow_command_in_flight(server, api, "stop", 1000);
  check_stop_waits_for(api, *first);
}

TEST_CASE_METHOD(FreshServer, "commands that conflict with a start in flight are 409",
                 "[e2e][rest][lifecycle]") {
  auto start = slow_command_in_flight(server, api, "start", 1500);

  auto second_start = api.post("/services/faulty/start");
  check_refused(second_start, 409);
  auto configure = api.post("/services/faulty/configure", {{"start_delay_ms", 0}});
  E2E_CHECK_STATUS(configure, 409);
  auto both = api.post("/services/faulty/configure_and_start", json::object());
  E2E_CHECK_STATUS(both, 409);
  CHECK_FALSE(start->done());  // all answered while the start was still running

  E2E_CHECK_STATUS(start->response(), 200);
  auto status = status_of(api, "faulty");
  CHECK(status["state"] == "running");
  CHECK(status["metadata"]["start_delay_ms"] == 1500);
}

TEST_CASE_METHOD(FreshServer, "configure_and_start configures then starts, with the errors of both",
                 "[e2e][rest][lifecycle]") {
  register_ok(api, "echo");
  register_ok(api, "store");
  register_ok(api, "faulty");

  auto ok = api.post("/services/echo/configure_and_start", {{"prefix", "Both"}});
  E2E_REQUIRE_STATUS(ok, 200);
  CHECK(ok.body_json == json{{"status", "configured and started"}, {"service", "echo"}});
  auto status = status_of(api, "echo");
  CHECK(status["state"] == "running");
  CHECK(status["is_configured"] == true);
  CHECK(status["metadata"]["prefix"] == "Both");
  CHECK(api.post("/services/echo/echo", {{"message", "m"}}).field("message") == "Both: m");

  // Running: the configure part conflicts.
  auto running = api.post("/services/echo/configure_and_start", {{"prefix", "Again"}});
  E2E_CHECK_STATUS(running, 409);
  CHECK(status_of(api, "echo")["metadata"]["prefix"] == "Both");
  CHECK(state_of(api, "echo") == "running");

  // Invalid configuration: 422, nothing started.
  auto invalid = api.post("/services/store/configure_and_start", json::object());
  E2E_CHECK_STATUS(invalid, 422);
  CHECK(invalid.detail().find("capacity") != std::string::npos);
  CHECK(state_of(api, "store") == "initialized");
  E2E_CHECK_STATUS(api.post_raw("/services/store/configure_and_start", "{"), 400);
  E2E_CHECK_STATUS(api.post_raw("/services/store/configure_and_start", "[1]"), 422);
  CHECK(state_of(api, "store") == "initialized");

  auto store = api.post("/services/store/configure_and_start", {{"capacity", 2}});
  E2E_CHECK_STATUS(store, 200);
  CHECK(state_of(api, "store") == "running");

  // A failing start: 500 with the start error.
  auto failing = api.post("/services/faulty/configure_and_start", {{"fail_on", "start"}});
  E2E_CHECK_STATUS(failing, 500);
  CHECK_THAT(failing.detail(), Catch::StartsWith("Failed to start faulty service: "));
  status = status_of(api, "faulty");
  CHECK(status["state"] == "error");
  CHECK(status["error"] == failing.detail());
  CHECK(status["is_configured"] == true);
  CHECK(status["metadata"]["fail_on"] == "start");
}

TEST_CASE_METHOD(FreshServer,
                 "autostart: the configure reply comes at once and a start follows by itself",
                 "[e2e][rest][lifecycle]") {
  register_ok(api, "faulty");
  register_ok(api, "echo");

  auto configured =
      api.post("/services/faulty/configure", {{"autostart", true}, {"start_delay_ms", 1500}});
  E2E_REQUIRE_STATUS(configured, 200);
  CHECK(configured.body_json == json{{"status", "configured"}, {"service", "faulty"}});
  CHECK(configured.elapsed_ms < 1000);  // did not wait for the 1.5 s start
  auto early = state_of(api, "faulty");
  CHECK((early == "configured" || early == "starting"));
  CHECK(wait_for_state(api, "faulty", "running", 10s));
  CHECK(status_of(api, "faulty")["metadata"]["autostart"] == true);

  command_ok(api, "echo", "configure", {{"autostart", true}});
  CHECK(wait_for_state(api, "echo", "running", 10s));
}

TEST_CASE_METHOD(FreshServer,
                 "enabled false disables autostart and the instance can still be started by hand",
                 "[e2e][rest][lifecycle]") {
  register_configured(api, "echo", {{"enabled", false}, {"autostart", true}});
  // It stays configured: watch it for a while (a bounded observation).
  auto deadline = Clock::now() + 700ms;
  while (Clock::now() < deadline) {
    REQUIRE(state_of(api, "echo") == "configured");
    std::this_thread::sleep_for(50ms);
  }
  auto metadata = status_of(api, "echo")["metadata"];
  CHECK(metadata["enabled"] == false);
  CHECK(metadata["autostart"] == true);

  E2E_CHECK_STATUS(api.post("/services/echo/start"), 200);
  CHECK(state_of(api, "echo") == "running");
}

// ---------------------------------------------------------------------------
// DELETE /services/{name}

TEST_CASE_METHOD(FreshServer, "DELETE removes an instance: then 404, and the name can be reused",
                 "[e2e][rest][delete]") {
  register_ok(api, "echo");
  register_ok(api, "counter");
  command_ok(api, "echo", "configure", {{"prefix", "Old"}});

  auto removed = api.del("/services/echo");
  E2E_REQUIRE_STATUS(removed, 200);
  CHECK(removed.field("status") == "deregistered");
  CHECK(removed.field("service") == "echo");
  CHECK_FALSE(removed.field("error").is_string());

  E2E_CHECK_STATUS(api.get("/services/echo"), 404);
  E2E_CHECK_STATUS(api.post("/services/echo/start"), 404);
  E2E_CHECK_STATUS(api.del("/services/echo"), 404);
  CHECK(service_names(api) == std::vector<std::string>{"counter"});
  CHECK_FALSE(api.get("/").field("services").contains("echo"));

  // Reused: a fresh instance, nothing left of the old one.
  auto again = register_service(api, "echo");
  E2E_REQUIRE_STATUS(again, 200);
  CHECK(again.field("service") == "echo");
  auto status = status_of(api, "echo");
  CHECK(status["state"] == "initialized");
  CHECK(status["metadata"] == json::object());
  // Another class may take the name too.
  E2E_REQUIRE_STATUS(api.del("/services/echo"), 200);
  auto other = register_service(api, "store", "echo");
  E2E_CHECK_STATUS(other, 200);
  CHECK(other.field("type") == "StoreService");
}

TEST_CASE_METHOD(FreshServer, "DELETE of a running instance stops it first",
                 "[e2e][rest][delete]") {
  register_ok(api, "faulty", "slow");
  command_ok(api, "slow", "configure", {{"stop_delay_ms", 800}});
  command_ok(api, "slow", "start");

  auto started = Clock::now();
  auto removed = api.del("/services/slow");
  auto took = elapsed_ms(started);
  E2E_REQUIRE_STATUS(removed, 200);
  CHECK(took >= 700);  // it waited for the 800 ms stop
  CHECK(removed.field("status") == "deregistered");
  CHECK(removed.field("service") == "slow");
  E2E_CHECK_STATUS(api.get("/services/slow"), 404);

  // A running echo too (no delay): removed, and the name is free again.
  register_ok(api, "echo");
  command_ok(api, "echo", "start");
  E2E_CHECK_STATUS(api.del("/services/echo"), 200);
  E2E_CHECK_STATUS(api.get("/services/echo"), 404);
  register_ok(api, "echo");
}

TEST_CASE_METHOD(FreshServer, "DELETE of a starting instance waits for the start and the stop",
                 "[e2e][rest][delete]") {
  auto start = slow_command_in_flight(server, api, "start", 1000);
  auto removed = api.del("/services/faulty");
  E2E_CHECK_STATUS(removed, 200);
  CHECK(removed.field("status") == "deregistered");
  E2E_CHECK_STATUS(api.get("/services/faulty"), 404);
  start->response();  // its reply arrived (whatever it says); the server is still fine
  E2E_CHECK_STATUS(api.get("/"), 200);
  CHECK(service_names(api).empty());
}

TEST_CASE_METHOD(FreshServer,
                 "DELETE whose stop fails removes the instance anyway and reports the error",
                 "[e2e][rest][delete]") {
  register_configured(api, "faulty", {{"fail_on", "stop"}});
  command_ok(api, "faulty", "start");

  auto removed = api.del("/services/faulty");
  E2E_REQUIRE_STATUS(removed, 200);
  CHECK(removed.field("status") == "deregistered");
  CHECK(removed.field("service") == "faulty");
  REQUIRE(removed.field("error").is_string());
  CHECK_THAT(removed.field("error").get<std::string>(),
             Catch::StartsWith("Failed to stop faulty service: "));
  E2E_CHECK_STATUS(api.get("/services/faulty"), 404);
  register_ok(api, "faulty");
}

// ---------------------------------------------------------------------------
// Routing

TEST_CASE_METHOD(FreshServer,
                 "unknown paths are 404 and wrong methods 405 with Allow, all with a JSON detail",
                 "[e2e][rest][routing]") {
  register_ok(api, "echo");
  register_ok(api, "counter");

  for (const auto* path : {"/nope", "/services/echo/nope", "/services/echo/start/extra",
                           "/servicesx", "/services/counter/value/x"}) {
    INFO(path);
    auto response = api.get(path);
    check_refused(response, 404);
    CHECK(response.header("Content-Type").find("application/json") != std::string::npos);
  }
  auto unknown_post = api.post("/services/echo/nope", json::object());
  check_refused(unknown_post, 404);

  struct WrongMethod {
    std::string method;
    std::string path;
    std::vector<std::string> allowed;
  };
  const std::vector<WrongMethod> cases = {
      {"PUT", "/services", {"GET"}},
      {"DELETE", "/services", {"GET"}},
      {"POST", "/", {"GET"}},
      {"GET", "/services/echo/start", {"POST"}},
      {"DELETE", "/services/echo/stop", {"POST"}},
      {"GET", "/services/echo/configure", {"POST"}},
      {"PUT", "/services/echo/configure_and_start", {"POST"}},
      {"PUT", "/services/echo", {"GET", "DELETE"}},
      {"POST", "/services/echo", {"GET", "DELETE"}},
      {"GET", "/services/echo/echo", {"POST"}},          // custom route
      {"DELETE", "/services/counter/value", {"GET"}},    // custom route
      {"GET", "/services/counter/increment", {"POST"}},  // custom route
  };
  for (const auto& [method, path, allowed] : cases) {
    INFO(method << " " << path);
    auto response = api.request(method, path,
                                method == "GET" ? std::nullopt : std::optional<std::string>("{}"));
    check_refused(response, 405);
    auto allow = response.header("Allow");
    INFO("Allow: " << allow);
    for (const auto& verb : allowed) CHECK(allow.find(verb) != std::string::npos);
  }
  // Nothing was lost on the way.
  CHECK(service_names(api) == std::vector<std::string>{"echo", "counter"});
}

TEST_CASE_METHOD(
    FreshServer,
    "path segments are percent-decoded, query strings ignored, Content-Type not checked",
    "[e2e][rest][routing]") {
  register_ok(api, "echo");
  register_ok(api, "echo", "a.b-c");

  // Percent-encoded names.
  auto decoded = api.get("/services/%65%63%68%6F");
  E2E_CHECK_STATUS(decoded, 200);
  CHECK(decoded.field("state") == "initialized");
  E2E_CHECK_STATUS(api.get("/services/a%2Eb%2Dc"), 200);
  E2E_CHECK_STATUS(api.post("/services/%65cho/start"), 200);
  CHECK(state_of(api, "echo") == "running");

  // Query strings are ignored unless the route defines parameters (GET
  // /services defines state, type, limit and after).
  E2E_CHECK_STATUS(api.get("/?verbose=1"), 200);
  auto listing = api.get("/services?verbose=1&x=y");
  E2E_CHECK_STATUS(listing, 200);
  CHECK(listing.field("services").size() == 2);
  E2E_CHECK_STATUS(api.get("/services/echo?x=1"), 200);
  E2E_CHECK_STATUS(api.post("/services/echo/stop?force=true"), 200);
  CHECK(state_of(api, "echo") == "stopped");

  // Content-Type is not checked: the body is JSON whatever the header says.
  auto text_plain =
      api.post_raw("/services/a.b-c/configure", R"({"prefix": "Plain"})", "text/plain");
  E2E_CHECK_STATUS(text_plain, 200);
  CHECK(status_of(api, "a.b-c")["metadata"]["prefix"] == "Plain");
  auto form = api.post_raw("/services/register", R"({"service_name": "counter"})",
                           "application/x-www-form-urlencoded");
  E2E_CHECK_STATUS(form, 200);
  CHECK(form.field("service") == "counter");
  auto no_type =
      api.request("POST", "/services/a.b-c/configure", R"({"prefix": "None"})", {"Content-Type:"});
  E2E_CHECK_STATUS(no_type, 200);
  CHECK(status_of(api, "a.b-c")["metadata"]["prefix"] == "None");
}
