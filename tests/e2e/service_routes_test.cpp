// End-to-end tests of the example services' routes (docs/rest-api.md, "Example services"), of the
// request limits and robustness (docs/rest-api.md; docs/security.md) and of the node's
// responsiveness while a manager blocks (docs/architecture.md). Each test case starts its own
// `processpype`.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <processpype/testing/checks.hpp>

using namespace processpype::testing;

namespace {

/// GET /services/{name}/ticks as a number (-1 when it cannot be read).
std::int64_t ticks_of(HttpClient& api, const std::string& name) {
  auto ticks = api.get("/services/" + name + "/ticks").field("ticks");
  return ticks.is_number_integer() ? ticks.get<std::int64_t>() : -1;
}

std::string echo_message(HttpClient& api, const std::string& name, const json& message) {
  auto response = api.post("/services/" + name + "/echo", {{"message", message}});
  INFO(response.describe());
  REQUIRE(response.status == 200);
  REQUIRE(response.field("message").is_string());
  return response.field("message").get<std::string>();
}

}  // namespace

// ---------------------------------------------------------------------------
// echo

TEST_CASE_METHOD(FreshServer,
                 "echo: POST /echo answers '<prefix>: <message>' while running, 409 otherwise",
                 "[e2e][examples][echo]") {
  register_ok(api, "echo");

  auto not_running = api.post("/services/echo/echo", {{"message", "hi"}});
  check_refused(not_running, 409);

  command_ok(api, "echo", "start");
  auto echoed = api.post("/services/echo/echo", {{"message", "hi"}});
  E2E_REQUIRE_STATUS(echoed, 200);
  CHECK(echoed.body_json == json{{"message", "Echo: hi"}});
  CHECK(echoed.header("Content-Type").find("application/json") != std::string::npos);
  // Works over and over on the same connection.
  for (int i = 0; i < 20; ++i)
    CHECK(echo_message(api, "echo", "n" + std::to_string(i)) == "Echo: n" + std::to_string(i));

  command_ok(api, "echo", "stop");
  E2E_CHECK_STATUS(api.post("/services/echo/echo", {{"message", "hi"}}), 409);

  // Configured prefix.
  command_ok(api, "echo", "configure_and_start", {{"prefix", "Bot"}});
  CHECK(echo_message(api, "echo", "hello world") == "Bot: hello world");
  CHECK(echo_message(api, "echo", "") == "Bot: ");
}

TEST_CASE_METHOD(FreshServer, "echo cuts '<prefix>: <message>' to max_length Unicode code points",
                 "[e2e][examples][echo]") {
  register_ok(api, "echo", "short");
  register_ok(api, "echo", "long");
  command_ok(api, "short", "configure_and_start", {{"prefix", "P"}, {"max_length", 5}});
  command_ok(api, "long", "start");

  CHECK(echo_message(api, "short", "hello") == "P: he");
  CHECK(echo_message(api, "short", "ab") == "P: ab");
  CHECK(echo_message(api, "short", "a") == "P: a");
  // Code points, not bytes: é is 2 bytes, 😀 is 4.
  CHECK(echo_message(api, "short", "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9") == "P: \xc3\xa9\xc3\xa9");
  CHECK(echo_message(api, "short", "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80") ==
        "P: \xf0\x9f\x98\x80\xf0\x9f\x98\x80");

  // The default max_length is 1000, prefix "Echo".
  auto result = echo_message(api, "long", std::string(2000, 'x'));
  CHECK(result.size() == 1000);
  CHECK(result == "Echo: " + std::string(994, 'x'));
  CHECK(echo_message(api, "long", std::string(994, 'y')) == "Echo: " + std::string(994, 'y'));
}

TEST_CASE_METHOD(FreshServer, "echo: a missing or non-string message is 422",
                 "[e2e][examples][echo]") {
  register_ok(api, "echo");
  command_ok(api, "echo", "start");

  for (const auto* body :
       {R"({})", R"({"message": 5})", R"({"message": null})", R"({"message": ["a"]})",
        R"({"message": {"a": 1}})", R"({"text": "hi"})", "[1]", "\"hi\""}) {
    INFO("body: " << body);
    auto response = api.post_raw("/services/echo/echo", body);
    check_refused(response, 422);
  }
  auto empty = api.post("/services/echo/echo");  // empty body = {}
  E2E_CHECK_STATUS(empty, 422);
  auto malformed = api.post_raw("/services/echo/echo", "{\"message\": ");
  check_refused(malformed, 400);
  CHECK(state_of(api, "echo") == "running");
  CHECK(echo_message(api, "echo", "still") == "Echo: still");
}

// ---------------------------------------------------------------------------
// counter

TEST_CASE_METHOD(
    FreshServer,
    "counter: /value, /increment and /reset work in any state, with initial_value and step",
    "[e2e][examples][counter]") {
  register_ok(api, "counter");

  // Before configure and start.
  auto value = api.get("/services/counter/value");
  E2E_REQUIRE_STATUS(value, 200);
  CHECK(value.body_json == json{{"value", 0}});
  auto incremented = api.post("/services/counter/increment");
  E2E_REQUIRE_STATUS(incremented, 200);
  CHECK(incremented.body_json == json{{"value", 1}});
  CHECK(api.get("/services/counter/value").body_json == json{{"value", 1}});
  auto reset = api.post("/services/counter/reset");
  E2E_REQUIRE_STATUS(reset, 200);
  CHECK(reset.body_json == json{{"value", 0}});

  // Configured and running.
  command_ok(api, "counter", "configure_and_start", {{"initial_value", 10}, {"step", 5}});
  CHECK(api.get("/services/counter/value").body_json == json{{"value", 10}});
  CHECK(api.post("/services/counter/increment").body_json == json{{"value", 15}});
  CHECK(api.post("/services/counter/increment").body_json == json{{"value", 20}});
  CHECK(api.get("/services/counter/value").body_json == json{{"value", 20}});
  CHECK(api.post("/services/counter/reset").body_json == json{{"value", 0}});
  CHECK(api.post("/services/counter/increment").body_json == json{{"value", 5}});

  // Stopped: still served.
  command_ok(api, "counter", "stop");
  auto after_stop = api.get("/services/counter/value");
  E2E_CHECK_STATUS(after_stop, 200);
  CHECK(after_stop.field("value").is_number_integer());
  auto reset_after_stop = api.post("/services/counter/reset");
  E2E_CHECK_STATUS(reset_after_stop, 200);
  CHECK(reset_after_stop.body_json == json{{"value", 0}});
}

TEST_CASE_METHOD(FreshServer, "counter: an increment past int64 is 409 and keeps the value",
                 "[e2e][examples][counter]") {
  register_ok(api, "counter");
  constexpr auto max = std::numeric_limits<std::int64_t>::max();
  command_ok(api, "counter", "configure_and_start", {{"initial_value", max - 1}, {"step", 1}});

  CHECK(api.post("/services/counter/increment").body_json == json{{"value", max}});
  auto overflow = api.post("/services/counter/increment");
  check_refused(overflow, 409);
  CHECK(api.get("/services/counter/value").body_json == json{{"value", max}});
  CHECK(state_of(api, "counter") == "running");

  // A big step from below the limit overflows too.
  command_ok(api, "counter", "stop");
  command_ok(api, "counter", "configure_and_start", {{"initial_value", max - 3}, {"step", 5}});
  CHECK(api.get("/services/counter/value").body_json == json{{"value", max - 3}});
  E2E_CHECK_STATUS(api.post("/services/counter/increment"), 409);
  CHECK(api.get("/services/counter/value").body_json == json{{"value", max - 3}});
  CHECK(api.post("/services/counter/reset").body_json == json{{"value", 0}});
  CHECK(api.post("/services/counter/increment").body_json == json{{"value", 5}});
}

// ---------------------------------------------------------------------------
// ticker

TEST_CASE_METHOD(FreshServer, "ticker: /ticks counts only while running",
                 "[e2e][examples][ticker]") {
  register_ok(api, "ticker");

  auto initial = api.get("/services/ticker/ticks");
  E2E_REQUIRE_STATUS(initial, 200);
  CHECK(initial.body_json == json{{"ticks", 0}});
  command_ok(api, "ticker", "configure", {{"interval_seconds", 0.05}});
  CHECK(ticks_of(api, "ticker") == 0);

  auto started = Clock::now();
  command_ok(api, "ticker", "start");
  CHECK(wait_until([&] { return ticks_of(api, "ticker") >= 3; }, 5s));
  // Not wildly faster than the interval.
  auto ticks = ticks_of(api, "ticker");
  CHECK(ticks <= static_cast<std::int64_t>(elapsed_ms(started) / 50.0) + 3);

  command_ok(api, "ticker", "stop");
  auto stopped_at = ticks_of(api, "ticker");
  REQUIRE(stopped_at >= 3);
  // Watch it for 8 intervals: no tick while stopped (a bounded observation).
  auto deadline = Clock::now() + 400ms;
  while (Clock::now() < deadline) {
    REQUIRE(ticks_of(api, "ticker") == stopped_at);
    std::this_thread::sleep_for(25ms);
  }

  // Running again: ticking again.
  command_ok(api, "ticker", "start");
  auto restarted_at = ticks_of(api, "ticker");
  CHECK(wait_until([&] { return ticks_of(api, "ticker") >= restarted_at + 2; }, 5s));
}

TEST_CASE_METHOD(FreshServer,
                 "ticker: the default interval is 1 s and ticks are served in any state",
                 "[e2e][examples][ticker]") {
  register_ok(api, "ticker");
  command_ok(api, "ticker", "configure");
  CHECK(status_of(api, "ticker")["metadata"]["interval_seconds"].get<double>() == Approx(1.0));
  command_ok(api, "ticker", "start");
  CHECK(wait_until([&] { return ticks_of(api, "ticker") >= 1; }, 5s));
  E2E_CHECK_STATUS(api.post("/services/ticker/stop"), 200);
  E2E_CHECK_STATUS(api.get("/services/ticker/ticks"), 200);
}

// ---------------------------------------------------------------------------
// faulty

TEST_CASE_METHOD(FreshServer, "faulty: defaults, a clean start and stop, and no custom routes",
                 "[e2e][examples][faulty]") {
  register_ok(api, "faulty");
  command_ok(api, "faulty", "configure");
  auto metadata = status_of(api, "faulty")["metadata"];
  INFO(metadata.dump());
  CHECK(metadata["fail_on"] == "none");
  CHECK(metadata["start_delay_ms"] == 0);
  CHECK(metadata["stop_delay_ms"] == 0);

  E2E_CHECK_STATUS(api.post("/services/faulty/start"), 200);
  CHECK(state_of(api, "faulty") == "running");
  auto none = api.get("/services/faulty/anything");
  check_refused(none, 404);
  E2E_CHECK_STATUS(api.post("/services/faulty/stop"), 200);
  CHECK(state_of(api, "faulty") == "stopped");

  // A start delay is honoured and the reply comes when it is running.
  command_ok(api, "faulty", "configure", {{"start_delay_ms", 300}});
  auto started = api.post("/services/faulty/start");
  E2E_CHECK_STATUS(started, 200);
  CHECK(started.elapsed_ms >= 250);
  CHECK(state_of(api, "faulty") == "running");
}

// ---------------------------------------------------------------------------
// store

TEST_CASE_METHOD(FreshServer,
                 "store: PUT, GET, DELETE items, keys in insertion order, 409 when full",
                 "[e2e][examples][store]") {
  register_ok(api, "store");
  command_ok(api, "store", "configure_and_start", {{"capacity", 3}});

  auto empty = api.get("/services/store/items");
  E2E_REQUIRE_STATUS(empty, 200);
  CHECK(empty.body_json == json{{"keys", json::array()}});

  auto put = api.put("/services/store/items/zeta", {{"x", 1}, {"y", {1, 2}}});
  E2E_REQUIRE_STATUS(put, 200);
  CHECK(put.body_json == json{{"key", "zeta"}, {"value", {{"x", 1}, {"y", {1, 2}}}}});
  // Any JSON value.
  auto number = api.put("/services/store/items/alpha", 42);
  E2E_REQUIRE_STATUS(number, 200);
  CHECK(number.body_json == json{{"key", "alpha"}, {"value", 42}});
  auto list = api.put("/services/store/items/mid", json::array({"a", true, nullptr}));
  E2E_REQUIRE_STATUS(list, 200);
  CHECK(list.field("value") == json::array({"a", true, nullptr}));

  CHECK(api.get("/services/store/items").body_json == json{{"keys", {"zeta", "alpha", "mid"}}});
  auto got = api.get("/services/store/items/zeta");
  E2E_REQUIRE_STATUS(got, 200);
  CHECK(got.body_json == json{{"key", "zeta"}, {"value", {{"x", 1}, {"y", {1, 2}}}}});

  // Full.
  auto full = api.put("/services/store/items/extra", "v");
  check_refused(full, 409);
  E2E_CHECK_STATUS(api.get("/services/store/items/extra"), 404);

  // Absent key.
  auto absent = api.get("/services/store/items/missing");
  check_refused(absent, 404);

  // Delete frees a slot.
  E2E_CHECK_STATUS(api.del("/services/store/items/alpha"), 200);
  E2E_CHECK_STATUS(api.get("/services/store/items/alpha"), 404);
  CHECK(api.get("/services/store/items").body_json == json{{"keys", {"zeta", "mid"}}});
  E2E_CHECK_STATUS(api.put("/services/store/items/extra", "v"), 200);
  CHECK(api.get("/services/store/items").body_json == json{{"keys", {"zeta", "mid", "extra"}}});
  CHECK(api.get("/services/store/items/extra").field("value") == "v");
}

TEST_CASE_METHOD(FreshServer,
                 "store: keys are percent-decoded path segments and wrong methods are 405",
                 "[e2e][examples][store]") {
  register_ok(api, "store");
  command_ok(api, "store", "configure_and_start", {{"capacity", 10}});

  auto spaced = api.put("/services/store/items/a%20b", "spaced");
  E2E_REQUIRE_STATUS(spaced, 200);
  CHECK(spaced.field("key") == "a b");
  auto got = api.get("/services/store/items/a%20b");
  E2E_REQUIRE_STATUS(got, 200);
  CHECK(got.body_json == json{{"key", "a b"}, {"value", "spaced"}});
  E2E_CHECK_STATUS(api.put("/services/store/items/caf%C3%A9", 1), 200);
  CHECK(api.get("/services/store/items").body_json == json{{"keys", {"a b", "caf\xc3\xa9"}}});
  // Query strings are ignored.
  CHECK(api.get("/services/store/items/a%20b?x=1").field("value") == "spaced");

  auto post_items = api.post("/services/store/items", json::object());
  E2E_CHECK_STATUS(post_items, 405);
  CHECK(post_items.header("Allow").find("GET") != std::string::npos);
  auto post_item = api.post("/services/store/items/k", json::object());
  E2E_CHECK_STATUS(post_item, 405);
  auto allow = post_item.header("Allow");
  INFO("Allow: " << allow);
  CHECK(allow.find("GET") != std::string::npos);
  CHECK(allow.find("PUT") != std::string::npos);
  CHECK(allow.find("DELETE") != std::string::npos);
  E2E_CHECK_STATUS(api.get("/services/store/nothing"), 404);
}

// ---------------------------------------------------------------------------
// Limits and robustness

TEST_CASE_METHOD(
    FreshServer,
    "a body over 1 MiB is 413 with a JSON detail, plain or chunked, and serving goes on",
    "[e2e][limits]") {
  register_ok(api, "echo");
  register_ok(api, "store");
  command_ok(api, "store", "configure_and_start", {{"capacity", 5}});

  const std::string huge = json{{"prefix", std::string(2 * 1024 * 1024, 'x')}}.dump();

  auto plain = api.post_raw("/services/echo/configure", huge);
  check_refused(plain, 413);
  E2E_CHECK_STATUS(api.get("/"), 200);

  auto chunked = api.post_chunked("/services/echo/configure", huge);
  check_refused(chunked, 413);
  E2E_CHECK_STATUS(api.get("/"), 200);

  auto on_register = api.post_raw("/services/register", huge);
  E2E_CHECK_STATUS(on_register, 413);
  auto on_custom = api.request("PUT", "/services/store/items/big", huge);
  E2E_CHECK_STATUS(on_custom, 413);

  // Nothing was applied and nothing was lost.
  auto status = status_of(api, "echo");
  CHECK(status["state"] == "initialized");
  CHECK(status["metadata"] == json::object());
  CHECK(service_names(api) == std::vector<std::string>{"echo", "store"});
  E2E_CHECK_STATUS(api.get("/services/store/items/big"), 404);

  // A fresh connection works as well.
  auto other = server.client();
  E2E_CHECK_STATUS(other.get("/services"), 200);

  // Below the limit is fine.
  const std::string half = json{{"prefix", "P"}, {"blob", std::string(512 * 1024, 'y')}}.dump();
  E2E_CHECK_STATUS(api.post_raw("/services/echo/configure", half), 200);
  E2E_CHECK_STATUS(api.post_chunked("/services/echo/configure", half), 200);
  CHECK(status_of(api, "echo")["metadata"]["prefix"] == "P");
}

TEST_CASE_METHOD(FreshServer, "odd requests never crash the node nor lose a registered service",
                 "[e2e][robustness]") {
  register_ok(api, "echo");
  command_ok(api, "echo", "configure_and_start", {{"prefix", "Safe"}});

  std::vector<std::pair<std::string, std::optional<std::string>>> odd = {
      {"/services/%00", std::nullopt},
      {"/services/%ZZ", std::nullopt},
      {"/services/%", std::nullopt},
      {"/services/..%2F..%2Fetc%2Fpasswd", std::nullopt},
      {"/services/caf%C3%A9", std::nullopt},
      {"/services/%FF%FE", std::nullopt},
      {"/services/" + std::string(8000, 'n'), std::nullopt},
      {"/services//start", std::nullopt},
      {"/services/echo/%2e%2e/%2e%2e", std::nullopt},
  };
  for (const auto& [path, body] : odd) {
    INFO("GET " << path.substr(0, 80));
    auto response = api.get(path);
    INFO(response.describe());
    CHECK(response.status >= 400);
    CHECK(response.status < 500);
  }

  std::string deep(5000, '[');
  deep += std::string(5000, ']');
  const std::vector<std::string> bodies = {
      deep,
      R"({"service_name": "echo", "instance_name": "x", "service_name": "counter"})",
      std::string("{\"service_name\": \"e\0cho\"}", sizeof("{\"service_name\": \"e\0cho\"}") - 1),
      "\xff\xfe{}",
      R"({"service_name": "echo", "instance_name": "\u0000"})",
  };
  for (const auto& body : bodies) {
    auto response = api.post_raw("/services/register", body);
    INFO(response.describe());
    CHECK(response.status != 0);
    CHECK(response.status < 500);
  }
  auto deep_configure = api.post_raw("/services/echo/configure", "{\"a\": " + deep + "}");
  CHECK(deep_configure.status != 0);
  CHECK(deep_configure.status < 500);

  REQUIRE(server.alive());
  E2E_CHECK_STATUS(api.get("/"), 200);
  auto status = status_of(api, "echo");
  CHECK(status["state"] == "running");
  CHECK(status["metadata"]["prefix"] == "Safe");
  CHECK(echo_message(api, "echo", "ok") == "Safe: ok");
}

TEST_CASE_METHOD(FreshServer, "concurrent conflicting commands leave a consistent, working node",
                 "[e2e][robustness]") {
  register_ok(api, "echo", "target");

  constexpr int kThreads = 4;
  constexpr int kRounds = 25;
  std::vector<std::vector<long>> statuses(kThreads);
  std::vector<std::string> registered(kThreads);
  std::vector<long> race_statuses(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      HttpClient client(server.port(), server.api_prefix(), 20s);
      // Everyone wants the same explicit name: exactly one wins.
      race_statuses[t] = register_service(client, "counter", "race").status;
      // Everyone auto-names: all names differ.
      auto named = register_service(client, "counter").field("service");
      registered[t] = named.is_string() ? named.get<std::string>() : "";
      for (int round = 0; round < kRounds; ++round) {
        switch ((round + t) % 5) {
          case 0:
            statuses[t].push_back(client.post("/services/target/start").status);
            break;
          case 1:
            statuses[t].push_back(client.post("/services/target/stop").status);
            break;
          case 2:
            statuses[t].push_back(
                client.post("/services/target/configure", {{"prefix", "T" + std::to_string(t)}})
                    .status);
            break;
          case 3:
            statuses[t].push_back(
                client.post("/services/target/configure_and_start", json::object()).status);
            break;
          default:
            statuses[t].push_back(client.get("/services/target").status);
            break;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();

  for (int t = 0; t < kThreads; ++t) {
    for (auto status : statuses[t]) {
      INFO("thread " << t);
      CHECK((status == 200 || status == 409));
    }
  }
  CHECK(std::count(race_statuses.begin(), race_statuses.end(), 200L) == 1);
  CHECK(std::count(race_statuses.begin(), race_statuses.end(), 409L) == kThreads - 1);
  std::set<std::string> unique(registered.begin(), registered.end());
  CHECK(unique.size() == static_cast<size_t>(kThreads));
  CHECK(unique.count("") == 0);
  CHECK(service_names(api).size() == static_cast<size_t>(1 + 1 + kThreads));

  // The target is in a stable state and still obeys commands.
  auto state = state_of(api, "target");
  INFO("state: " << state);
  CHECK((state == "running" || state == "stopped" || state == "configured" ||
         state == "initialized"));
  E2E_CHECK_STATUS(api.post("/services/target/stop"), 200);
  E2E_CHECK_STATUS(api.post("/services/target/configure", {{"prefix", "Final"}}), 200);
  E2E_CHECK_STATUS(api.post("/services/target/start"), 200);
  CHECK(echo_message(api, "target", "x") == "Final: x");
}

// ---------------------------------------------------------------------------
// Responsiveness

TEST_CASE_METHOD(FreshServer, "status reads stay under 100 ms while a manager blocks 2 s in start",
                 "[e2e][latency]") {
  register_ok(api, "faulty");
  register_ok(api, "echo");
  register_ok(api, "counter");
  command_ok(api, "faulty", "configure", {{"start_delay_ms", 2000}});

  AsyncRequest start(server.port(), server.api_prefix(), "POST", "/services/faulty/start");
  REQUIRE(wait_for_state(api, "faulty", "starting", 1500ms));

  std::vector<double> status_ms;
  std::vector<double> listing_ms;
  std::vector<double> root_ms;
  for (int i = 0; i < 5; ++i) {
    auto status = api.get("/services/faulty");
    E2E_CHECK_STATUS(status, 200);
    CHECK(status.field("state") == "starting");
    status_ms.push_back(status.elapsed_ms);

    auto listing = api.get("/services");
    E2E_CHECK_STATUS(listing, 200);
    listing_ms.push_back(listing.elapsed_ms);

    auto root = api.get("/");
    E2E_CHECK_STATUS(root, 200);
    root_ms.push_back(root.elapsed_ms);
  }
  // Other services are not stalled either.
  auto echo_start = api.post("/services/echo/start");
  E2E_CHECK_STATUS(echo_start, 200);
  auto increment = api.post("/services/counter/increment");
  E2E_CHECK_STATUS(increment, 200);
  REQUIRE_FALSE(start.done());  // all of the above happened during the blocked start

  for (size_t i = 0; i < status_ms.size(); ++i) {
    INFO("read " << i << ": status " << status_ms[i] << " ms, list " << listing_ms[i]
                 << " ms, root " << root_ms[i] << " ms");
    CHECK(status_ms[i] < 100);
    CHECK(listing_ms[i] < 100);
    CHECK(root_ms[i] < 100);
  }
  CHECK(echo_start.elapsed_ms < 1000);
  CHECK(increment.elapsed_ms < 1000);

  const auto& reply = start.response();
  E2E_CHECK_STATUS(reply, 200);
  CHECK(reply.body_json == json{{"status", "started"}, {"service", "faulty"}});
  CHECK(reply.elapsed_ms >= 1900);
  CHECK(state_of(api, "faulty") == "running");
}
