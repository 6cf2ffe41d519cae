// Hostile JSON and text (docs/security.md) against the real binary: nesting deeper
// than 64 levels (400, checked while parsing, on every route with a body,
// under /nodes/{id} too), the 100,000-level body that crashed the old node,
// numbers no C++ type holds (400) or out of a field's range (422), and
// invalid UTF-8 in names and paths (never a crash; answers use U+FFFD).

#include <functional>
#include <string>
#include <vector>

#include "security_support.hpp"

using namespace security;

namespace {

/// `levels` nested arrays around `inner`.
std::string nested_arrays(std::size_t levels, const std::string& inner = "1") {
  return std::string(levels, '[') + inner + std::string(levels, ']');
}

/// `levels` nested objects {"a": ...} around 1.
std::string nested_objects(std::size_t levels) {
  std::string text;
  text.reserve(levels * 6 + 1);
  for (std::size_t i = 0; i < levels; ++i) text += R"({"a":)";
  text += "1";
  text += std::string(levels, '}');
  return text;
}

constexpr const char* too_deep = "JSON nested deeper than 64 levels";

/// The node serves and its instances are as they were.
void check_node_serves(ServerProcess& server, HttpClient& api) {
  REQUIRE(server.alive());
  E2E_CHECK_STATUS(api.get("/"), 200);
  E2E_CHECK_STATUS(api.get("/health/live"), 200);
  auto other = server.client();
  E2E_CHECK_STATUS(other.get("/services"), 200);
}

}  // namespace

TEST_CASE("JSON of 64 levels is accepted and of 65 is 400 on every route with a body",
          "[security][json][depth]") {
  ServerProcess server;
  auto api = server.client();
  auto node = "/nodes/" + percent_encode(wait_for_node_id(api));
  REQUIRE(node != "/nodes/");
  register_ok(api, "echo");
  register_ok(api, "store");
  E2E_REQUIRE_STATUS(api.post("/services/store/configure_and_start", {{"capacity", 10}}), 200);

  struct Target {
    std::string method, path;
    /// The body with the given total nesting depth.
    std::function<std::string(std::size_t)> body;
  };
  auto in_object = [](const std::string& prefix) {
    return [prefix](std::size_t depth) {
      return "{" + prefix + R"("x":)" + nested_arrays(depth - 1) + "}";
    };
  };
  std::vector<Target> targets = {
      {"POST", "/services/echo/configure", in_object("")},
      {"POST", node + "/services/echo/configure", in_object("")},
      {"POST", "/services/register", in_object(R"("service_name":"nope",)")},
      {"POST", node + "/services/register", in_object(R"("service_name":"nope",)")},
      {"PUT", "/services/store/items/deep", [](std::size_t depth) { return nested_arrays(depth); }},
      {"PUT", node + "/services/store/items/deep",
       [](std::size_t depth) { return nested_arrays(depth); }},
  };
  for (const auto& target : targets) {
    INFO(target.method << " " << target.path);
    auto over = api.request(target.method, target.path, target.body(65));
    E2E_CHECK_STATUS(over, 400);
    CHECK(over.detail() == too_deep);
    // Objects count as levels as much as arrays.
    auto objects = api.request(target.method, target.path, nested_objects(65));
    E2E_CHECK_STATUS(objects, 400);
    CHECK(objects.detail() == too_deep);
    // 64 levels get past the parser: whatever the route then says, it is not
    // the nesting.
    auto at_limit = api.request(target.method, target.path, target.body(64));
    INFO(at_limit.describe());
    CHECK(at_limit.status != 0);
    CHECK(at_limit.detail() != too_deep);
  }
  // The accepted ones did their work: the store kept the value.
  auto stored = api.get("/services/store/items/deep");
  E2E_CHECK_STATUS(stored, 200);
  check_node_serves(server, api);
  CHECK(service_names(api) == std::vector<std::string>{"echo", "store"});
}

TEST_CASE("the 200 KB body of 100,000 nested levels that crashed the old node is 400",
          "[security][json][depth]") {
  ServerProcess server;
  auto api = server.client();
  auto node = "/nodes/" + percent_encode(wait_for_node_id(api));
  register_ok(api, "echo");
  register_ok(api, "store");
  E2E_REQUIRE_STATUS(api.post("/services/echo/configure_and_start", {{"prefix", "Safe"}}), 200);
  E2E_REQUIRE_STATUS(api.post("/services/store/configure_and_start", {{"capacity", 10}}), 200);
  E2E_REQUIRE_STATUS(api.post("/services/echo/stop"), 200);

  const auto arrays = nested_arrays(100000);
  const auto objects = nested_objects(100000);
  REQUIRE(arrays.size() == 200001);
  const std::vector<std::pair<std::string, std::string>> targets = {
      {"POST", "/services/echo/configure"},
      {"POST", "/services/echo/configure_and_start"},
      {"POST", node + "/services/echo/configure"},
      {"POST", "/services/register"},
      {"PUT", "/services/store/items/deep"},
      {"POST", "/services/store/items/deep"},  // 405 or 400: never a crash
  };
  for (const auto& [method, path] : targets) {
    for (const auto* body : {&arrays, &objects}) {
      INFO(method << " " << path << (body == &arrays ? " [[[[..." : " {\"a\":{\"a\":..."));
      auto response = api.request(method, path, *body);
      INFO(response.describe());
      REQUIRE(response.status != 0);
      if (method == "PUT" || path.find("/configure") != std::string::npos ||
          path.find("/register") != std::string::npos) {
        CHECK(response.status == 400);
        CHECK(response.detail() == too_deep);
      } else {
        CHECK(response.status < 500);
      }
    }
  }
  // Also sent in chunks, and as the value of a field.
  auto chunked = api.post_chunked("/services/echo/configure", arrays);
  E2E_CHECK_STATUS(chunked, 400);
  CHECK(chunked.detail() == too_deep);
  auto field = api.post_raw("/services/echo/configure", R"({"prefix":"P","x":)" + arrays + "}");
  E2E_CHECK_STATUS(field, 400);

  check_node_serves(server, api);
  auto status = status_of(api, "echo");
  CHECK(status["state"] == "stopped");
  CHECK(status["metadata"]["prefix"] == "Safe");
  E2E_CHECK_STATUS(api.get("/services/store/items/deep"), 404);
  E2E_CHECK_STATUS(api.post("/services/echo/start"), 200);
}

TEST_CASE("a number no C++ type holds is 400 naming it, one out of a field's range 422 naming it",
          "[security][json][numbers]") {
  ServerProcess server;
  auto api = server.client();
  register_ok(api, "echo");
  register_ok(api, "counter");
  register_ok(api, "store");
  register_ok(api, "faulty");
  register_ok(api, "ticker");

  for (const std::string number : {"1e400", "-1e400", "1.5e99999"}) {
    for (const std::string path : {"/services/echo/configure", "/services/register"}) {
      INFO(path << " with " << number);
      auto response = api.post_raw(path, R"({"service_name":"echo","max_length":)" + number + "}");
      E2E_CHECK_STATUS(response, 400);
      check_detail(response);
      CHECK(response.detail().find(number) != std::string::npos);
    }
  }

  struct OutOfRange {
    std::string instance, field, value;
  };
  for (const auto& [instance, field, value] : std::vector<OutOfRange>{
           {"echo", "max_length", "1e300"},
           {"echo", "max_length", "9223372036854775808"},
           {"echo", "max_length", "99999999999999999999999"},
           {"echo", "max_length", "-1"},
           {"counter", "initial_value", "9223372036854775808"},
           {"counter", "initial_value", "-9223372036854775809"},
           {"counter", "step", "1e19"},
           {"store", "capacity", "1e20"},
           {"echo", "max_restarts", "4294967296e10"},
           {"faulty", "start_delay_ms", "1e20"},
           {"ticker", "interval_seconds", "86400.5"},
       }) {
    INFO(instance << "." << field << " = " << value);
    auto response =
        api.post_raw("/services/" + instance + "/configure", "{\"" + field + "\":" + value + "}");
    E2E_CHECK_STATUS(response, 422);
    check_detail(response);
    CHECK(response.detail().find("'" + field + "'") != std::string::npos);
  }
  // Nothing was applied; the node serves.
  for (const auto* name : {"echo", "counter", "store", "faulty", "ticker"})
    CHECK(status_of(api, name)["is_configured"] == false);
  REQUIRE(server.alive());
  E2E_CHECK_STATUS(
      api.post("/services/counter/configure_and_start", {{"initial_value", 9223372036854775806LL}}),
      200);
}

// Was a bug, kept as a regression test: a duration field accepts a number of seconds its timer
// cannot hold. POST /services/slow/configure {"start_timeout_seconds": 1e10} (faulty,
// start_delay_ms 200) answers 200, and then POST /services/slow/start
// answers at once 500 "Timed out starting faulty service after
// 10000000000 s": seconds * 1e9 overflows the int64 nanoseconds of
// std::chrono (runtime/src/lifecycle.cpp), an undefined conversion that
// yields a negative timeout. stop_timeout_seconds does the same on stop.
// Expected: 422 naming the field at configure (or a timeout that holds).
TEST_CASE("a timeout of seconds too large for a timer is 422 naming it, not an instant timeout",
          "[security][json][numbers]") {
  ServerProcess server;
  auto api = server.client();
  register_ok(api, "faulty", "slow");
  for (const std::string field : {"start_timeout_seconds", "stop_timeout_seconds"}) {
    INFO(field << " = 1e10");
    auto configured = api.post("/services/slow/configure",
                               {{field, 1e10}, {"start_delay_ms", 200}, {"stop_delay_ms", 200}});
    if (configured.status == 422) {
      CHECK(configured.detail().find("'" + field + "'") != std::string::npos);
      continue;
    }
    E2E_REQUIRE_STATUS(configured, 200);
    auto started = api.post("/services/slow/start");
    E2E_CHECK_STATUS(started, 200);
    auto stopped = api.post("/services/slow/stop");
    E2E_CHECK_STATUS(stopped, 200);
    E2E_CHECK_STATUS(api.post("/services/slow/stop"), 200);  // whatever state it is in now
  }
}

TEST_CASE(
    "invalid UTF-8 in paths, names and bodies never crashes and answers are UTF-8 with U+FFFD",
    "[security][json][utf8]") {
  ServerProcess server;
  auto api = server.client();
  auto node_id = wait_for_node_id(api);
  register_ok(api, "echo");
  register_ok(api, "store");
  E2E_REQUIRE_STATUS(api.post("/services/store/configure_and_start", {{"capacity", 10}}), 200);
  const std::string replacement = "\xEF\xBF\xBD";

  struct Case {
    std::string request;
    bool names_it;  ///< the answer names the bad bytes (as U+FFFD)
  };
  const std::vector<Case> cases = {
      {raw_get("/services/%FF%FE"), true},
      {raw_get("/services/\xff\xfe"), true},
      {raw_get("/services/caf%C3"), true},
      {raw_get("/services/%ED%A0%80"), true},  // an encoded surrogate
      {raw_get("/services/%C0%AF"), true},     // an overlong '/'
      {raw_get("/services/echo/\xff"), true},
      {raw_get("/nodes/%FF/services"), true},
      {raw_get("/nodes/\xc0\xaf/services"), true},
      {raw_request("POST", "/services/%FF/configure", "{}"), true},
      {raw_request("POST", "/services/register",
                   "{\"service_name\":\"echo\",\"instance_name\":\"\xff\xfe\"}"),
       false},
      {raw_request("POST", "/services/register", "{\"service_name\":\"\xc3\x28\"}"), false},
      {raw_request("POST", "/services/register",
                   R"({"service_name":"echo","instance_name":"\ud800"})"),
       false},
      {raw_request("POST", "/services/echo/configure", "{\"prefix\":\"\xff\"}"), false},
      {raw_request("POST", "/services/echo/configure", "{\"\xfe\":1}"), false},
      {raw_request("PUT", "/services/store/items/%FF", "1"), false},
      {raw_get("/services/store/items/%FF"), false},
      {raw_get("/services/store/items"), false},
      {raw_get("/services?after=%FF"), true},
      {raw_get("/services?state=%FF%FE"), true},
      {raw_get("/services?type=\xff"), false},
      {raw_get("/events?since=\xff"), false},
      {raw_get("/nodes/" + percent_encode(node_id) + "/services/%FF"), true},
  };
  RawConnection connection(server.port());
  for (const auto& [request, names_it] : cases) {
    INFO("request: " << printable(request.substr(0, 120)));
    if (connection.closed()) connection = RawConnection(server.port());
    REQUIRE(connection.send(request));
    auto response = connection.read_response();
    INFO(printable(response.describe()));
    REQUIRE(response.status != 0);
    CHECK(response.status < 500);
    // nlohmann's parser refuses invalid UTF-8: is_json() means valid UTF-8.
    CHECK(response.is_json());
    if (names_it) CHECK(response.body.find(replacement) != std::string::npos);
  }
  check_node_serves(server, api);
  CHECK(service_names(api) == std::vector<std::string>{"echo", "store"});
  // Every listing stays valid JSON.
  for (const auto* path : {"/", "/services", "/events", "/metrics", "/services/store/items"}) {
    auto response = api.get(path);
    E2E_CHECK_STATUS(response, 200);
    if (std::string(path) != "/metrics") CHECK(response.is_json());
  }
}
