#pragma once

// A node with the REST Api on it and no sockets: requests are
// RecordedExchanges handed to Api::handle, and each test waits for the
// response, which may come from a CAF thread, through a future bounded by a
// timeout.

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "processpype/actors/runtime.hpp"
#include "processpype/rest/api.hpp"
#include "processpype/rest/http_exchange.hpp"
#include "processpype/runtime/logging.hpp"

namespace rest_tests {

using nlohmann::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

/// The node id of every test node.
inline const std::string node_id = "node-1";
/// The version every test node reports.
inline const std::string app_version = "9.9.9-test";
/// How long a test waits for one response.
inline constexpr auto response_timeout = std::chrono::seconds(5);

/// A response as the test sees it.
struct Reply {
  int status = 0;
  std::string content_type;
  Headers headers;
  std::string body;
  std::string request;  ///< "METHOD target", for messages

  /// The body as JSON (null when it is not JSON).
  json data() const { return json::parse(body, nullptr, false); }
  /// `data()[key]`; null when the body is no object or lacks `key`.
  json operator[](const char* key) const {
    auto object = data();
    return object.is_object() && object.contains(key) ? object[key] : json();
  }
  /// The first header called `name` (exact case, as the Api writes them).
  std::optional<std::string> header(const std::string& name) const {
    for (const auto& [key, value] : headers)
      if (key == name) return value;
    return std::nullopt;
  }
};

inline std::ostream& operator<<(std::ostream& out, const Reply& reply) {
  return out << reply.request << " -> " << reply.status << " " << reply.body.substr(0, 400);
}

inline Headers bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

/// Who a node is: its id, and whether it can publish and join (its actor
/// system loads CAF's middleman, its Api is its gateway) to reach another
/// ApiNode over loopback.
struct NodeSetup {
  std::string id = node_id;
  bool networked = false;
};

/// One actor system with a Runtime and an Api on it.
class ApiNode {
 public:
  explicit ApiNode(processpype::rest::ApiOptions options = {}, NodeSetup setup = {}) {
    processpype::configure_logging(spdlog::level::off, processpype::LogFormat::text);
    processpype::Runtime::add_types(config_);
    if (setup.networked) config_.load<caf::io::middleman>();
    system_ = std::make_unique<caf::actor_system>(config_);
    processpype::RuntimeOptions runtime_options;
    runtime_options.node_id = setup.id;
    runtime_options.application = {"ProcessPype tests", app_version};
    runtime_ = std::make_unique<processpype::Runtime>(*system_, runtime_options);
    api_ = std::make_unique<processpype::rest::Api>(*runtime_, std::move(options));
    if (setup.networked) runtime_->set_gateway(api_->gateway());  // as rest::Server does
  }
  ~ApiNode() {
    api_.reset();
    runtime_.reset();
    system_.reset();
  }
  ApiNode(const ApiNode&) = delete;
  ApiNode& operator=(const ApiNode&) = delete;

  processpype::rest::Api& api() { return *api_; }
  processpype::Runtime& runtime() { return *runtime_; }

  /// Sends `method target` (`target` may carry `?query`) and waits for the
  /// response; a request that gets none within response_timeout fails the test.
  Reply send(const std::string& method, const std::string& target, std::string body = {},
             Headers headers = {}) {
    processpype::rest::RecordedExchange::Request request;
    request.method = method;
    auto question = target.find('?');
    request.path = target.substr(0, question);
    if (question != std::string::npos) request.query = target.substr(question + 1);
    request.body = std::move(body);
    request.headers = std::move(headers);

    auto promise = std::make_shared<std::promise<processpype::rest::HttpResponse>>();
    auto responses = std::make_shared<std::atomic<int>>(0);
    auto future = promise->get_future();
    auto exchange = std::make_shared<processpype::rest::RecordedExchange>(
        std::move(request), [promise, responses](const processpype::rest::HttpResponse& response) {
          if (responses->fetch_add(1) == 0) promise->set_value(response);
        });
    api_->handle(exchange);
    Reply reply;
    reply.request = method + " " + target;
    if (future.wait_for(response_timeout) != std::future_status::ready) {
      FAIL("no response within 5 s to " << reply.request);
      return reply;
    }
    auto response = future.get();
    reply.status = response.status;
    reply.content_type = response.content_type;
    reply.headers = response.headers;
    reply.body = response.body;
    return reply;
  }

  Reply get(const std::string& target, Headers headers = {}) {
    return send("GET", target, {}, std::move(headers));
  }
  Reply post(const std::string& target, std::string body = {}, Headers headers = {}) {
    return send("POST", target, std::move(body), std::move(headers));
  }
  Reply post(const std::string& target, const json& body, Headers headers = {}) {
    return send("POST", target, body.dump(), std::move(headers));
  }
  Reply del(const std::string& target, Headers headers = {}) {
    return send("DELETE", target, {}, std::move(headers));
  }

  /// Registers an instance of `type` called `name` through the API.
  void add(const std::string& type, const std::string& name, const Headers& headers = {}) {
    auto reply =
        post("/services/register", json{{"service_name", type}, {"instance_name", name}}, headers);
    INFO(reply);
    REQUIRE(reply.status == 200);
  }
  /// Registers, configures with `configuration` and starts `name`.
  void add_running(const std::string& type, const std::string& name,
                   const json& configuration = json::object()) {
    add(type, name);
    auto reply = post("/services/" + name + "/configure_and_start", configuration);
    INFO(reply);
    REQUIRE(reply.status == 200);
  }
  /// The state of `name` as GET /services/{name} reports it.
  std::string state_of(const std::string& name, const Headers& headers = {}) {
    auto reply = get("/services/" + name, headers);
    INFO(reply);
    REQUIRE(reply.status == 200);
    return reply["state"].get<std::string>();
  }

 private:
  caf::actor_system_config config_;
  std::unique_ptr<caf::actor_system> system_;
  std::unique_ptr<processpype::Runtime> runtime_;
  std::unique_ptr<processpype::rest::Api> api_;
};

/// An Api with the prefix `/api`.
inline processpype::rest::ApiOptions with_prefix(std::string prefix) {
  processpype::rest::ApiOptions options;
  options.api_prefix = std::move(prefix);
  return options;
}

/// An Api with the admin token `admin-token` and the read token `read-token`.
inline processpype::rest::ApiOptions with_tokens() {
  processpype::rest::ApiOptions options;
  options.tokens = {"admin-token", "read-token"};
  return options;
}

/// Checks `reply`'s status; a failure names the request and the body.
inline void check_status(const Reply& reply, int status) {
  INFO(reply);
  CHECK(reply.status == status);
}

/// Requires `reply` to be 200 and returns its body as JSON.
inline json require_ok(const Reply& reply) {
  INFO(reply);
  REQUIRE(reply.status == 200);
  return reply.data();
}

/// Checks that `reply` is an error answer: `status` and a "detail" string.
inline void check_error(const Reply& reply, int status) {
  INFO(reply);
  CHECK(reply.status == status);
  CHECK(reply["detail"].is_string());
}

/// Checks that `reply` is an error answer: `status` and a "detail" string
/// that `detail` matches (Catch::Contains, Catch::StartsWith, Catch::Equals).
template <typename Matcher>
void check_error(const Reply& reply, int status, const Matcher& detail) {
  check_error(reply, status);
  INFO(reply);
  auto text = reply["detail"];
  CHECK_THAT(text.is_string() ? text.get<std::string>() : std::string{}, detail);
}

/// Checks that `reply` is 405 and that its Allow header is `allowed`.
inline void check_not_allowed(const Reply& reply, const std::string& allowed) {
  check_error(reply, 405);
  INFO(reply);
  CHECK(reply.header("Allow") == allowed);
}

/// The `name`s of a GET /services reply, in order.
inline std::vector<std::string> names_in(const Reply& reply) {
  std::vector<std::string> names;
  auto data = reply.data();
  for (const auto& entry : data["services"]) names.push_back(entry["name"]);
  return names;
}

}  // namespace rest_tests
