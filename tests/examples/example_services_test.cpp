// The example services of docs/rest-api.md, "Example services" (echo, counter, ticker, faulty,
// lock, store), driven through the embedding Runtime: every route, status code and validation rule.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>

#include "processpype/actors/runtime.hpp"
#include "processpype/runtime/logging.hpp"
#include "processpype/testing/process.hpp"

using nlohmann::json;
using processpype::Error;
using processpype::ErrorCode;
using processpype::RouteRequest;
using processpype::RouteResponse;
using processpype::Runtime;
using processpype::ServiceState;

namespace {

caf::actor_system_config& with_types(caf::actor_system_config& config) {
  Runtime::add_types(config);
  processpype::configure_logging(spdlog::level::warn, processpype::LogFormat::text);
  return config;
}

/// One node: an actor system with a Runtime on it.
struct Node {
  caf::actor_system_config config;
  caf::actor_system system{with_types(config)};
  Runtime runtime{system};

  std::string add(const std::string& key, std::optional<std::string> name = std::nullopt) {
    return runtime.register_service(key, std::move(name)).name;
  }

  RouteResponse call(const std::string& name, std::string method, std::string path,
                     json body = json::object()) {
    RouteRequest request;
    request.method = std::move(method);
    request.path = std::move(path);
    request.body = std::move(body);
    return runtime.call_route(name, std::move(request));
  }

  ServiceState state(const std::string& name) { return runtime.status(name).state; }
};

/// The code of the processpype::Error that `command` throws.
ErrorCode error_of(const std::function<void()>& command, std::string* detail = nullptr) {
  try {
    command();
  } catch (const Error& error) {
    if (detail != nullptr) *detail = error.what();
    return error.code();
  }
  FAIL("expected a processpype::Error");
  return ErrorCode::bad_request;
}

/// A configure refused with 422 whose detail names `field`.
void require_invalid(Node& node, const std::string& name, const json& configuration,
                     const std::string& field) {
  std::string detail;
  INFO("configuration " << configuration.dump());
  CHECK(error_of([&] { node.runtime.configure(name, configuration); }, &detail) ==
        ErrorCode::invalid_value);
  CHECK_THAT(detail, Catch::Contains(field));
}

/// A configuration a class must refuse, and the field its 422 names.
struct Refused {
  json configuration;
  std::string field;
};

/// The configuration rules of the class `key`: configure({}) gives (among
/// others) the metadata fields of `defaults`; each of `refused` is a 422
/// naming its field and keeps the previous configuration. The instance.
std::string check_configuration_rules(Node& node, const std::string& key, const json& defaults,
                                      const std::vector<Refused>& refused) {
  auto name = node.add(key);
  node.runtime.configure(name, json::object());
  auto metadata = node.runtime.status(name).metadata;
  for (const auto& [field, value] : defaults.items()) {
    INFO(field);
    CHECK(metadata[field] == value);
  }
  for (const auto& each : refused) require_invalid(node, name, each.configuration, each.field);
  CHECK(node.runtime.status(name).metadata == metadata);
  return name;
}

/// Polls `condition` until it holds or `deadline` passes.
bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return condition();
}

}  // namespace

TEST_CASE("the six example classes are registered under their keys", "[examples]") {
  Node node;
  for (auto [key, type] : {std::pair{"echo", "EchoService"},
                           {"counter", "CounterService"},
                           {"ticker", "TickerService"},
                           {"faulty", "FaultyService"},
                           {"lock", "LockService"},
                           {"store", "StoreService"}}) {
    auto registration = node.runtime.register_service(key);
    CHECK(registration.name == key);
    CHECK(registration.type == type);
    auto status = node.runtime.status(key);
    CHECK(status.state == ServiceState::initialized);
    CHECK(status.metadata == json::object());
    CHECK_FALSE(status.is_configured);
  }
}

// -- echo ---------------------------------------------------------------------

TEST_CASE("echo: configuration defaults and validation", "[examples][echo]") {
  Node node;
  check_configuration_rules(node, "echo", {{"prefix", "Echo"}, {"max_length", 1000}},
                            {{{{"max_length", 0}}, "max_length"},
                             {{{"max_length", -3}}, "max_length"},
                             {{{"max_length", 2.5}}, "max_length"},
                             {{{"max_length", "10"}}, "max_length"},
                             {{{"prefix", 5}}, "prefix"},
                             {{{"prefix", nullptr}}, "prefix"}});
}

TEST_CASE("echo: POST /echo answers only while running", "[examples][echo]") {
  Node node;
  auto echo = node.add("echo");
  json hello = {{"message", "hello"}};

  // No configuration needed; 409 before start.
  CHECK(node.call(echo, "POST", "/echo", hello).status == 409);
  node.runtime.start(echo);
  REQUIRE(node.state(echo) == ServiceState::running);

  auto reply = node.call(echo, "POST", "/echo", hello);
  CHECK(reply.status == 200);
  CHECK(reply.body == json{{"message", "Echo: hello"}});
  CHECK(node.call(echo, "POST", "/echo", {{"message", ""}}).body["message"] == "Echo: ");

  node.runtime.stop(echo);
  auto refused = node.call(echo, "POST", "/echo", hello);
  CHECK(refused.status == 409);
  CHECK(refused.body.contains("detail"));

  // Configured with a prefix, started again.
  node.runtime.configure(echo, {{"prefix", "Bot"}});
  CHECK(node.call(echo, "POST", "/echo", hello).status == 409);  // configured, not running
  node.runtime.start(echo);
  CHECK(node.call(echo, "POST", "/echo", hello).body["message"] == "Bot: hello");
  node.runtime.stop(echo);
}

TEST_CASE("echo: a missing or non-string message is 422", "[examples][echo]") {
  Node node;
  auto echo = node.add("echo");
  node.runtime.start(echo);
  for (const json& body : {json::object(), json{{"text", "hi"}}, json{{"message", 42}},
                           json{{"message", nullptr}}, json{{"message", json::array({"a"})}},
                           json{{"message", {{"a", 1}}}}, json::array(), json("message")}) {
    INFO("body " << body.dump());
    auto reply = node.call(echo, "POST", "/echo", body);
    CHECK(reply.status == 422);
    CHECK_THAT(reply.body.value("detail", ""), Catch::Contains("message"));
  }
  node.runtime.stop(echo);
}

TEST_CASE("echo: the reply is cut to max_length code points, UTF-8 aware", "[examples][echo]") {
  Node node;
  auto echo = node.add("echo");
  auto says = [&](const std::string& message) {
    auto reply = node.call(echo, "POST", "/echo", {{"message", message}});
    REQUIRE(reply.status == 200);
    return reply.body["message"].get<std::string>();
  };

  SECTION("ASCII") {
    node.runtime.configure(echo, {{"max_length", 8}});
    node.runtime.start(echo);
    CHECK(says("hello") == "Echo: he");  // the whole "<prefix>: <message>" is cut
    CHECK(says("he") == "Echo: he");     // exactly max_length: kept
    CHECK(says("h") == "Echo: h");
  }
  SECTION("a prefix longer than max_length is cut too") {
    node.runtime.configure(echo, {{"max_length", 3}});
    node.runtime.start(echo);
    CHECK(says("hello") == "Ech");
  }
  SECTION("multi-byte sequences count as one and are never split") {
    node.runtime.configure(echo, {{"prefix", "\xC3\x89"}, {"max_length", 5}});  // "É"
    node.runtime.start(echo);
    // "É: " is 3 code points; two more fit.
    CHECK(says("\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E") == "\xC3\x89: \xE6\x97\xA5\xE6\x9C\xAC");
    CHECK(says("\xF0\x9F\x98\x80\xF0\x9F\x98\x81\xF0\x9F\x98\x82") ==
          "\xC3\x89: \xF0\x9F\x98\x80\xF0\x9F\x98\x81");  // 4-byte emoji
    CHECK(says("a\xC3\xA9\xC3\xA8") == "\xC3\x89: a\xC3\xA9");
    CHECK(says("\xE6\x97\xA5") == "\xC3\x89: \xE6\x97\xA5");  // shorter: unchanged
    auto reply =
        node.call(echo, "POST", "/echo", {{"message", "\xF0\x9F\x98\x80\xF0\x9F\x98\x81x"}});
    CHECK_NOTHROW(reply.body.dump());  // still valid UTF-8
  }
  SECTION("max_length 1") {
    node.runtime.configure(echo, {{"prefix", "\xE2\x82\xAC"}, {"max_length", 1}});  // "€"
    node.runtime.start(echo);
    CHECK(says("anything") == "\xE2\x82\xAC");
  }
  node.runtime.stop(echo);
}

TEST_CASE("echo: unknown routes are 404, wrong methods 405", "[examples][echo]") {
  Node node;
  auto echo = node.add("echo");
  node.runtime.start(echo);
  CHECK(node.call(echo, "GET", "/nothing").status == 404);
  auto wrong = node.call(echo, "GET", "/echo");
  CHECK(wrong.status == 405);
  CHECK(wrong.allow == "POST");
  node.runtime.stop(echo);
}

// -- counter ------------------------------------------------------------------

TEST_CASE("counter: configuration defaults and validation", "[examples][counter]") {
  Node node;
  auto counter =
      check_configuration_rules(node, "counter", {{"initial_value", 0}, {"step", 1}},
                                {{{{"initial_value", 0.5}}, "initial_value"},
                                 {{{"initial_value", true}}, "initial_value"},
                                 {{{"initial_value", std::uint64_t{1} << 63}}, "initial_value"},
                                 {{{"step", 0}}, "step"},
                                 {{{"step", -1}}, "step"},
                                 {{{"step", 1.5}}, "step"},
                                 {{{"step", "2"}}, "step"}});
  node.runtime.configure(counter, {{"initial_value", -7}});  // negative is fine
  CHECK(node.call(counter, "GET", "/value").body == json{{"value", -7}});
}

TEST_CASE("counter: value, increment and reset in any state", "[examples][counter]") {
  Node node;
  auto counter = node.add("counter");
  auto value = [&] {
    return node.call(counter, "GET", "/value").body.at("value").get<std::int64_t>();
  };

  // initialized: routes work, no configuration needed.
  CHECK(value() == 0);
  auto reply = node.call(counter, "POST", "/increment");
  CHECK(reply.status == 200);
  CHECK(reply.body == json{{"value", 1}});

  node.runtime.configure(counter, {{"initial_value", 10}, {"step", 5}});
  CHECK(value() == 10);  // a configure restarts at initial_value
  CHECK(node.call(counter, "POST", "/increment").body == json{{"value", 15}});

  node.runtime.start(counter);
  CHECK(value() == 15);  // start keeps the value
  CHECK(node.call(counter, "POST", "/increment").body == json{{"value", 20}});
  reply = node.call(counter, "POST", "/reset");
  CHECK(reply.status == 200);
  CHECK(reply.body == json{{"value", 0}});  // reset sets 0, not initial_value
  CHECK(node.call(counter, "POST", "/increment").body == json{{"value", 5}});

  node.runtime.stop(counter);
  CHECK(node.state(counter) == ServiceState::stopped);
  CHECK(value() == 5);
  CHECK(node.call(counter, "POST", "/increment").body == json{{"value", 10}});
  CHECK(node.call(counter, "POST", "/reset").body == json{{"value", 0}});

  // A refused configure changes nothing; a valid one resets to initial_value.
  CHECK(node.call(counter, "POST", "/increment").body == json{{"value", 5}});
  CHECK(error_of([&] {
          node.runtime.configure(counter, {{"step", 0}});
        }) == ErrorCode::invalid_value);
  CHECK(value() == 5);
  CHECK(node.call(counter, "POST", "/increment").body == json{{"value", 10}});
  node.runtime.configure(counter, {{"initial_value", 3}});
  CHECK(value() == 3);
  CHECK(node.call(counter, "POST", "/increment").body == json{{"value", 4}});  // step back to 1
}

TEST_CASE("counter: an increment past int64 is 409 and keeps the value", "[examples][counter]") {
  Node node;
  auto counter = node.add("counter");
  constexpr auto max = std::numeric_limits<std::int64_t>::max();

  node.runtime.configure(counter, {{"initial_value", max - 1}});
  CHECK(node.call(counter, "POST", "/increment").body == json{{"value", max}});
  auto refused = node.call(counter, "POST", "/increment");
  CHECK(refused.status == 409);
  CHECK(refused.body.contains("detail"));
  CHECK(node.call(counter, "GET", "/value").body == json{{"value", max}});

  node.runtime.configure(counter, {{"initial_value", max - 2}, {"step", 3}});
  CHECK(node.call(counter, "POST", "/increment").status == 409);
  CHECK(node.call(counter, "GET", "/value").body == json{{"value", max - 2}});

  node.runtime.configure(counter, {{"initial_value", 0}, {"step", max}});
  CHECK(node.call(counter, "POST", "/increment").body == json{{"value", max}});
  CHECK(node.call(counter, "POST", "/increment").status == 409);
  CHECK(node.call(counter, "POST", "/reset").body == json{{"value", 0}});
}

TEST_CASE("counter: wrong methods are 405, unknown routes 404", "[examples][counter]") {
  Node node;
  auto counter = node.add("counter");
  CHECK(node.call(counter, "POST", "/value").status == 405);
  CHECK(node.call(counter, "GET", "/increment").status == 405);
  CHECK(node.call(counter, "GET", "/reset").status == 405);
  CHECK(node.call(counter, "GET", "/decrement").status == 404);
}

// -- ticker -------------------------------------------------------------------

namespace {

std::int64_t ticks(Node& node, const std::string& name) {
  auto reply = node.call(name, "GET", "/ticks");
  REQUIRE(reply.status == 200);
  return reply.body.at("ticks").get<std::int64_t>();
}

}  // namespace

TEST_CASE("ticker: interval_seconds defaults to 1.0 within [0.001, 86400]", "[examples][ticker]") {
  Node node;
  auto ticker = node.add("ticker");
  node.runtime.configure(ticker, json::object());
  CHECK(node.runtime.status(ticker).metadata["interval_seconds"] == 1.0);

  for (const json& bad : {json(0), json(0.0009), json(-1.0), json(86400.5), json(100000), json("1"),
                          json(nullptr), json(true)})
    require_invalid(node, ticker, {{"interval_seconds", bad}}, "interval_seconds");

  for (const json& good : {json(0.001), json(86400), json(2), json(0.5)}) {
    INFO("interval_seconds " << good.dump());
    CHECK_NOTHROW(node.runtime.configure(ticker, {{"interval_seconds", good}}));
  }
}

TEST_CASE("ticker: /ticks works in any state, ticks only while running", "[examples][ticker]") {
  Node node;
  auto ticker = node.add("ticker");
  auto clock = node.add("ticker");  // a second ticker keeps running: it measures time in ticks
  CHECK(ticks(node, ticker) == 0);  // initialized

  node.runtime.configure(ticker, {{"interval_seconds", 0.01}});
  node.runtime.configure(clock, {{"interval_seconds", 0.01}});
  node.runtime.start(clock);
  REQUIRE(eventually([&] { return ticks(node, clock) >= 10; }));
  CHECK(ticks(node, ticker) == 0);  // configured, not running: no ticks

  node.runtime.start(ticker);  // no configuration needed either
  REQUIRE(eventually([&] { return ticks(node, ticker) >= 5; }));

  node.runtime.stop(ticker);
  REQUIRE(node.state(ticker) == ServiceState::stopped);
  auto stopped_at = ticks(node, ticker);
  auto clock_at = ticks(node, clock);
  REQUIRE(eventually([&] { return ticks(node, clock) >= clock_at + 20; }));
  CHECK(ticks(node, ticker) == stopped_at);  // stopped: no more ticks

  // Started again: ticks resume (the count is the instance's total).
  node.runtime.start(ticker);
  REQUIRE(eventually([&] { return ticks(node, ticker) >= stopped_at + 3; }));
  node.runtime.stop(ticker);
  node.runtime.stop(clock);
  CHECK(ticks(node, clock) >= clock_at + 20);
  CHECK(node.call(ticker, "POST", "/ticks").status == 405);
}

TEST_CASE("ticker: many tickers tick at once (timers, not sleeping threads)",
          "[examples][ticker]") {
  Node node;
  std::vector<std::string> tickers;
  for (int i = 0; i < 24; ++i) {
    tickers.push_back(node.add("ticker"));
    node.runtime.configure(tickers.back(), {{"interval_seconds", 0.005}});
    node.runtime.start(tickers.back());
  }
  for (const auto& ticker : tickers) {
    INFO(ticker);
    CHECK(eventually([&] { return ticks(node, ticker) >= 3; }));
  }
  for (const auto& ticker : tickers) node.runtime.stop(ticker);
}

// -- faulty -------------------------------------------------------------------

TEST_CASE("faulty: configuration defaults and validation", "[examples][faulty]") {
  Node node;
  auto faulty = check_configuration_rules(
      node, "faulty", {{"fail_on", "none"}, {"start_delay_ms", 0}, {"stop_delay_ms", 0}},
      {{{{"fail_on", "sometimes"}}, "fail_on"},
       {{{"fail_on", "START"}}, "fail_on"},
       {{{"fail_on", ""}}, "fail_on"},
       {{{"fail_on", 1}}, "fail_on"},
       {{{"start_delay_ms", -1}}, "start_delay_ms"},
       {{{"start_delay_ms", 1.5}}, "start_delay_ms"},
       {{{"stop_delay_ms", -1}}, "stop_delay_ms"},
       {{{"stop_delay_ms", "0"}}, "stop_delay_ms"}});
  for (auto fail_on : {"none", "start", "stop"})
    CHECK_NOTHROW(node.runtime.configure(faulty, {{"fail_on", fail_on}}));
}

TEST_CASE("faulty: starts and stops without configuration and has no routes",
          "[examples][faulty]") {
  Node node;
  auto faulty = node.add("faulty");
  node.runtime.start(faulty);
  CHECK(node.state(faulty) == ServiceState::running);
  CHECK(node.call(faulty, "GET", "/anything").status == 404);
  CHECK(node.call(faulty, "POST", "/start").status == 404);
  node.runtime.stop(faulty);
  CHECK(node.state(faulty) == ServiceState::stopped);
}

TEST_CASE("faulty: fail_on start fails the start", "[examples][faulty]") {
  Node node;
  auto faulty = node.add("faulty", "f1");
  node.runtime.configure(faulty, {{"fail_on", "start"}});
  std::string detail;
  CHECK(error_of([&] { node.runtime.start(faulty); }, &detail) == ErrorCode::service_failure);
  CHECK_THAT(detail, Catch::StartsWith("Failed to start f1 service: "));
  CHECK(detail.size() > std::string{"Failed to start f1 service: "}.size());
  auto status = node.runtime.status(faulty);
  CHECK(status.state == ServiceState::error);
  CHECK(status.error == detail);

  // Stop from error runs the manager's stop, which works.
  node.runtime.stop(faulty);
  CHECK(node.state(faulty) == ServiceState::stopped);

  // Reconfigured, it starts; a successful start clears the error.
  node.runtime.configure(faulty, {{"fail_on", "none"}});
  node.runtime.start(faulty);
  status = node.runtime.status(faulty);
  CHECK(status.state == ServiceState::running);
  CHECK(status.error.empty());
  node.runtime.stop(faulty);
}

TEST_CASE("faulty: fail_on stop fails the stop", "[examples][faulty]") {
  Node node;
  auto faulty = node.add("faulty", "f2");
  node.runtime.configure(faulty, {{"fail_on", "stop"}});
  node.runtime.start(faulty);
  CHECK(node.state(faulty) == ServiceState::running);
  std::string detail;
  CHECK(error_of([&] { node.runtime.stop(faulty); }, &detail) == ErrorCode::service_failure);
  CHECK_THAT(detail, Catch::StartsWith("Failed to stop f2 service: "));
  auto status = node.runtime.status(faulty);
  CHECK(status.state == ServiceState::error);
  CHECK(status.error == detail);
}

TEST_CASE("faulty: a blocking start stalls neither status queries nor other services",
          "[examples][faulty]") {
  Node node;
  auto faulty = node.add("faulty");
  auto counter = node.add("counter");
  node.runtime.configure(faulty, {{"start_delay_ms", 1500}});
  auto started = std::async(std::launch::async, [&] { node.runtime.start(faulty); });

  REQUIRE(eventually([&] { return node.state(faulty) == ServiceState::starting; }));
  // While the manager sleeps, the node answers.
  CHECK(node.call(counter, "POST", "/increment").body == json{{"value", 1}});
  node.runtime.start(counter);
  CHECK(node.state(counter) == ServiceState::running);
  CHECK(node.state(faulty) == ServiceState::starting);

  started.get();  // the reply comes when the transition has finished
  CHECK(node.state(faulty) == ServiceState::running);
  node.runtime.stop(faulty);
  node.runtime.stop(counter);
}

TEST_CASE("faulty: a start that outlasts its timeout leaves error", "[examples][faulty]") {
  Node node;
  auto faulty = node.add("faulty", "slow");
  node.runtime.configure(faulty, {{"start_delay_ms", 800}, {"start_timeout_seconds", 0.2}});
  std::string detail;
  CHECK(error_of([&] { node.runtime.start(faulty); }, &detail) == ErrorCode::service_failure);
  CHECK(detail == "Timed out starting slow service after 0.2 s");
  auto status = node.runtime.status(faulty);
  CHECK(status.state == ServiceState::error);
  CHECK(status.error == detail);

  // Once the abandoned start returns, the service can be stopped normally.
  REQUIRE(eventually([&] {
    try {
      node.runtime.stop(faulty);
      return true;
    } catch (const Error& error) {
      return false;  // conflict: the earlier start still runs
    }
  }));
  CHECK(node.state(faulty) == ServiceState::stopped);
}

TEST_CASE("faulty: a stop that outlasts its timeout leaves error", "[examples][faulty]") {
  Node node;
  auto faulty = node.add("faulty", "stuck");
  node.runtime.configure(faulty, {{"stop_delay_ms", 800}, {"stop_timeout_seconds", 0.2}});
  node.runtime.start(faulty);
  std::string detail;
  CHECK(error_of([&] { node.runtime.stop(faulty); }, &detail) == ErrorCode::service_failure);
  CHECK(detail == "Timed out stopping stuck service after 0.2 s");
  CHECK(node.state(faulty) == ServiceState::error);
  // While the abandoned stop still runs, the manager is not touched again:
  // configure is refused until it returns.
  CHECK(error_of([&] { node.runtime.configure(faulty, json::object()); }) == ErrorCode::conflict);
  REQUIRE(eventually([&] {
    try {
      node.runtime.configure(faulty, json::object());
      return true;
    } catch (const Error&) {
      return false;
    }
  }));
  node.runtime.start(faulty);
  node.runtime.stop(faulty);
  CHECK(node.state(faulty) == ServiceState::stopped);
}

// -- store --------------------------------------------------------------------

TEST_CASE("store: capacity is required and must be > 0", "[examples][store]") {
  Node node;
  auto store = node.add("store");

  // Requires configuration: start refused, state error.
  std::string detail;
  CHECK(error_of([&] { node.runtime.start(store); }, &detail) == ErrorCode::conflict);
  CHECK_THAT(detail, Catch::Contains("must be configured"));
  CHECK(node.state(store) == ServiceState::error);

  require_invalid(node, store, json::object(), "capacity");
  require_invalid(node, store, {{"capacity", nullptr}}, "capacity");
  require_invalid(node, store, {{"capacity", 0}}, "capacity");
  require_invalid(node, store, {{"capacity", -5}}, "capacity");
  require_invalid(node, store, {{"capacity", 1.5}}, "capacity");
  require_invalid(node, store, {{"capacity", "3"}}, "capacity");
  CHECK_FALSE(node.runtime.status(store).is_configured);

  node.runtime.configure(store, {{"capacity", 3}});
  auto status = node.runtime.status(store);
  CHECK(status.is_configured);
  CHECK(status.metadata["capacity"] == 3);
  node.runtime.start(store);
  CHECK(node.state(store) == ServiceState::running);
  node.runtime.stop(store);
}

TEST_CASE("store: put, get, delete and list items", "[examples][store]") {
  Node node;
  auto store = node.add("store");
  node.runtime.configure(store, {{"capacity", 10}});
  node.runtime.start(store);

  CHECK(node.call(store, "GET", "/items").body == json{{"keys", json::array()}});
  auto put = node.call(store, "PUT", "/items/a", {{"x", 1}});
  CHECK(put.status == 200);
  CHECK(put.body == json{{"key", "a"}, {"value", {{"x", 1}}}});
  auto got = node.call(store, "GET", "/items/a");
  CHECK(got.status == 200);
  CHECK(got.body == json{{"key", "a"}, {"value", {{"x", 1}}}});

  // Any JSON is a value; an empty HTTP body arrives as {}.
  for (const json& value :
       {json(42), json("text"), json::array({1, 2}), json(nullptr), json(true), json::object()}) {
    INFO("value " << value.dump());
    CHECK(node.call(store, "PUT", "/items/any", value).body ==
          json{{"key", "any"}, {"value", value}});
    CHECK(node.call(store, "GET", "/items/any").body == json{{"key", "any"}, {"value", value}});
  }

  // Overwrite.
  CHECK(node.call(store, "PUT", "/items/a", {{"x", 2}}).status == 200);
  CHECK(node.call(store, "GET", "/items/a").body["value"] == json{{"x", 2}});

  auto absent = node.call(store, "GET", "/items/missing");
  CHECK(absent.status == 404);
  CHECK(absent.body.contains("detail"));

  auto deleted = node.call(store, "DELETE", "/items/a");
  CHECK(deleted.status == 200);
  CHECK(deleted.body == json{{"key", "a"}, {"deleted", true}});
  CHECK(node.call(store, "GET", "/items/a").status == 404);
  CHECK(node.call(store, "DELETE", "/items/a").status == 404);
  CHECK(node.call(store, "GET", "/items").body == json{{"keys", {"any"}}});

  // Methods and unknown routes.
  auto wrong = node.call(store, "POST", "/items/a");
  CHECK(wrong.status == 405);
  CHECK_THAT(wrong.allow,
             Catch::Contains("PUT") && Catch::Contains("GET") && Catch::Contains("DELETE"));
  CHECK(node.call(store, "DELETE", "/items").status == 405);
  CHECK(node.call(store, "GET", "/items/a/b").status == 404);
  node.runtime.stop(store);
}

TEST_CASE("store: keys are listed in insertion order", "[examples][store]") {
  Node node;
  auto store = node.add("store");
  node.runtime.configure(store, {{"capacity", 10}});
  auto keys = [&] { return node.call(store, "GET", "/items").body.at("keys"); };

  for (auto key : {"c", "a", "b", "z", "m"}) node.call(store, "PUT", std::string{"/items/"} + key);
  CHECK(keys() == json{"c", "a", "b", "z", "m"});
  node.call(store, "PUT", "/items/a", json(1));  // overwriting keeps the place
  CHECK(keys() == json{"c", "a", "b", "z", "m"});
  node.call(store, "DELETE", "/items/a");
  node.call(store, "PUT", "/items/a", json(2));  // re-added: at the end
  CHECK(keys() == json{"c", "b", "z", "m", "a"});
  node.call(store, "DELETE", "/items/c");
  node.call(store, "DELETE", "/items/m");
  CHECK(keys() == json{"b", "z", "a"});
}

TEST_CASE("store: a full store refuses new keys with 409", "[examples][store]") {
  Node node;
  auto store = node.add("store");
  node.runtime.configure(store, {{"capacity", 2}});
  node.runtime.start(store);

  CHECK(node.call(store, "PUT", "/items/a", json(1)).status == 200);
  CHECK(node.call(store, "PUT", "/items/b", json(2)).status == 200);
  auto full = node.call(store, "PUT", "/items/c", json(3));
  CHECK(full.status == 409);
  CHECK(full.body.contains("detail"));
  CHECK(node.call(store, "GET", "/items/c").status == 404);
  // An existing key can still be overwritten.
  CHECK(node.call(store, "PUT", "/items/a", json(10)).status == 200);
  CHECK(node.call(store, "GET", "/items/a").body["value"] == 10);
  // Room again after a delete.
  CHECK(node.call(store, "DELETE", "/items/b").status == 200);
  CHECK(node.call(store, "PUT", "/items/c", json(3)).status == 200);
  CHECK(node.call(store, "GET", "/items").body == json{{"keys", {"a", "c"}}});
  node.runtime.stop(store);
}

TEST_CASE("store: routes work in any state, storing needs a configuration", "[examples][store]") {
  Node node;
  auto store = node.add("store");
  // Initialized: nothing stored yet, reading works, storing is refused.
  CHECK(node.call(store, "GET", "/items").body == json{{"keys", json::array()}});
  CHECK(node.call(store, "GET", "/items/a").status == 404);
  CHECK(node.call(store, "PUT", "/items/a", json(1)).status == 409);

  node.runtime.configure(store, {{"capacity", 2}});
  CHECK(node.call(store, "PUT", "/items/a", json(1)).status == 200);  // configured
  CHECK(node.call(store, "PUT", "/items/b", json(2)).status == 200);
  node.runtime.start(store);
  node.runtime.stop(store);
  CHECK(node.call(store, "GET", "/items/a").body["value"] == 1);  // stopped: items kept

  // A reconfigure keeps the items; a smaller capacity refuses new keys.
  node.runtime.configure(store, {{"capacity", 1}});
  CHECK(node.call(store, "GET", "/items").body == json{{"keys", {"a", "b"}}});
  CHECK(node.call(store, "PUT", "/items/c", json(3)).status == 409);
  CHECK(node.call(store, "PUT", "/items/b", json(20)).status == 200);
}

// -- lock ---------------------------------------------------------------------

TEST_CASE("lock: path is required, and its holder is whoever runs it", "[examples][lock]") {
  Node node;
  processpype::testing::TempDirectory directory("lock-test");
  auto path = (directory.path() / "held").string();
  auto lock = node.add("lock");
  CHECK(error_of([&] { node.runtime.configure(lock, json::object()); }) ==
        ErrorCode::invalid_value);
  CHECK(node.call(lock, "GET", "/holder").status == 409);  // not configured

  node.runtime.configure(lock, {{"path", path}});
  CHECK(node.call(lock, "GET", "/holder").status == 404);  // the file does not exist yet
  node.runtime.start(lock);
  auto holder = node.call(lock, "GET", "/holder");
  REQUIRE(holder.status == 200);
  CHECK(holder.body["pid"] == ::getpid());
  CHECK(holder.body["since"].get<std::string>().size() == 24);  // 2026-12-06T04:27:55.123Z
  CHECK(holder.body.contains("node"));
  CHECK_FALSE(holder.body.contains("fencing_token"));  // a node instance has none

  node.runtime.stop(lock);
  auto released = node.call(lock, "GET", "/holder");
  CHECK(released.status == 404);
  CHECK_THAT(released.body["detail"].get<std::string>(), Catch::Contains("Nobody holds"));
}

TEST_CASE("lock: a second copy on the same file fails to start until the first stops",
          "[examples][lock]") {
  Node node;
  processpype::testing::TempDirectory directory("lock-test");
  auto path = (directory.path() / "held").string();
  auto first = node.add("lock", "first");
  auto second = node.add("lock", "second");
  node.runtime.configure(first, {{"path", path}});
  node.runtime.configure(second, {{"path", path}});
  node.runtime.start(first);

  std::string detail;
  error_of([&] { node.runtime.start(second); }, &detail);
  CHECK_THAT(detail, Catch::Contains("lock held by another copy"));
  CHECK(node.state(second) == ServiceState::error);
  CHECK(node.call(second, "GET", "/holder").status == 200);  // both see the first's holder

  node.runtime.stop(first);
  node.runtime.configure(second, {{"path", path}});  // leaves error
  node.runtime.start(second);
  CHECK(node.state(second) == ServiceState::running);
  node.runtime.stop(second);
}
