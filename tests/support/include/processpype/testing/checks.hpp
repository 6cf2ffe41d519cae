#pragma once

// Catch2 assertions on the harness's responses and the fixture of a fresh
// server, shared by the e2e, cluster, operations and security suites. The
// only header of processpype_testing that needs Catch2: include it from test
// sources only.

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "processpype/testing/cluster.hpp"
#include "processpype/testing/http.hpp"
#include "processpype/testing/process.hpp"
#include "processpype/testing/server.hpp"
#include "processpype/testing/systemd.hpp"

/// `assertion` (REQUIRE or CHECK) of `response.status == expected`, with the
/// response (an HttpResponse or a RawResponse) printed on failure.
#define PROCESSPYPE_TESTING_STATUS(assertion, response, expected) \
  do {                                                            \
    const auto& e2e_r_ = (response);                              \
    INFO(e2e_r_.describe());                                      \
    assertion(e2e_r_.status == (expected));                       \
  } while (false)

/// REQUIREs `response.status == expected`, printing the response on failure.
#define E2E_REQUIRE_STATUS(response, expected) \
  PROCESSPYPE_TESTING_STATUS(REQUIRE, response, expected)

/// CHECKs `response.status == expected`, printing the response on failure.
#define E2E_CHECK_STATUS(response, expected) PROCESSPYPE_TESTING_STATUS(CHECK, response, expected)

namespace processpype::testing {

/// Registers an instance and REQUIREs 200.
inline void register_ok(HttpClient& api, const std::string& service_name,
                        const std::optional<std::string>& instance_name = std::nullopt) {
  E2E_REQUIRE_STATUS(register_service(api, service_name, instance_name), 200);
}

/// The error detail of a failed command is a non-empty string.
inline void check_detail(const HttpResponse& response) {
  INFO(response.describe());
  REQUIRE(response.is_json());
  REQUIRE(response.field("detail").is_string());
  CHECK_FALSE(response.detail().empty());
}

/// CHECKs that `response` has status `expected` and an error detail.
inline void check_refused(const HttpResponse& response, long expected) {
  E2E_CHECK_STATUS(response, expected);
  check_detail(response);
}

/// CHECKs that a process exited (no signal, no timeout) with `code`,
/// printing its status and the start of its stderr `err` on failure.
inline void check_exit(const ExitStatus& status, int code, const std::string& err) {
  INFO(status.describe() << "\nstderr:\n" << err.substr(0, 3000));
  CHECK(status.exited);
  CHECK(status.code == code);
}

/// Matches a text of `count` lines (lines_of), e.g. the one stderr line of a
/// refused start; a failed CHECK_THAT prints the text.
inline Catch::Matchers::Generic::PredicateMatcher<std::string> has_lines(std::size_t count) {
  return Catch::Matchers::Predicate<std::string>(
      [count](const std::string& text) { return lines_of(text).size() == count; },
      "has " + std::to_string(count) + " line(s)");
}

/// POSTs `path` without a body and REQUIREs 200.
inline HttpResponse post_ok(HttpClient& api, const std::string& path) {
  auto response = api.post(path);
  E2E_REQUIRE_STATUS(response, 200);
  return response;
}

/// POSTs the JSON `body` to `path` and REQUIREs 200.
inline HttpResponse post_ok(HttpClient& api, const std::string& path, const json& body) {
  auto response = api.post(path, body);
  E2E_REQUIRE_STATUS(response, 200);
  return response;
}

/// POSTs /services/<name>/<command> (start, stop...) and REQUIREs 200.
inline HttpResponse command_ok(HttpClient& api, const std::string& name,
                               const std::string& command) {
  return post_ok(api, "/services/" + name + "/" + command);
}

/// The same with the JSON `body` (configure, configure_and_start).
inline HttpResponse command_ok(HttpClient& api, const std::string& name, const std::string& command,
                               const json& body) {
  return post_ok(api, "/services/" + name + "/" + command, body);
}

/// Registers an instance of `service_name` named `instance_name` and starts
/// it, REQUIRing 200 for both.
inline void register_started(HttpClient& api, const std::string& service_name,
                             const std::string& instance_name) {
  register_ok(api, service_name, instance_name);
  command_ok(api, instance_name, "start");
}

/// Registers an instance of `service_name` (named after it) and configures
/// it with `configuration`, REQUIRing 200 for both.
inline void register_configured(HttpClient& api, const std::string& service_name,
                                const json& configuration) {
  register_ok(api, service_name);
  command_ok(api, service_name, "configure", configuration);
}

/// CHECKs that instance `name` is in `state` and that its status.error is
/// `error` (null when nullopt).
inline void check_state(HttpClient& api, const std::string& name, const std::string& state,
                        const std::optional<std::string>& error = std::nullopt) {
  auto status = status_of(api, name);
  INFO(name << ": " << status.dump());
  CHECK(status["state"] == state);
  if (error)
    CHECK(status["error"] == *error);
  else
    CHECK(status["error"].is_null());
}

/// A fresh `processpype` (default registry, no instances) and a client of
/// it, for TEST_CASE_METHOD(FreshServer, ...): each test case its own.
struct FreshServer {
  ServerProcess server;
  HttpClient api = server.client();
};

/// REQUIREs that every node of `nodes` lists all of them up within
/// `bound` (docs/membership.md: 10 s), printing what each lists on failure.
inline void require_mesh(const std::vector<Node*>& nodes,
                         std::chrono::milliseconds bound = std::chrono::seconds(10)) {
  std::vector<int> ports;
  std::set<std::string> names;
  for (auto* node : nodes) {
    ports.push_back(node->http_port());
    names.insert(node->id);
  }
  auto converged = time_until_all_up(ports, names, bound);
  INFO("GET /nodes: " << describe_views(ports));
  REQUIRE(converged.has_value());
}

/// GET `path`: CHECKs 200 and returns the body.
inline std::string body_of(HttpClient& api, const std::string& path) {
  auto response = api.get(path);
  INFO(response.describe());
  CHECK(response.status == 200);
  return response.body;
}

/// CHECKs that `text`, read from `channel`, is not empty and holds none of
/// `secrets` (docs/secrets.md: a secret shows in no output channel).
inline void check_secrets_hidden(const std::string& channel, const std::string& text,
                                 const std::vector<std::string>& secrets) {
  INFO("channel: " << channel);
  CHECK_FALSE(text.empty());
  for (const auto& secret : secrets) {
    INFO("secret: " << secret);
    CHECK(text.find(secret) == std::string::npos);
  }
}

/// Starts node `first_id`, then node `second_id` joining it, and REQUIREs
/// them up on each other (require_mesh).
inline std::pair<Node, Node> start_joined_pair(const std::string& first_id,
                                               const std::string& second_id) {
  auto first = start_node(first_id);
  auto second = start_node(second_id, {first.node_port});
  require_mesh({&first, &second});
  return {std::move(first), std::move(second)};
}

/// Checks that `systemd-analyze verify` of the unit at `inside` under
/// `root` exits 0 and says nothing; where it cannot run on this machine,
/// WARNs "SKIPPED" instead. Whether it ran.
inline bool check_unit_verifies(const UnitRoot& root, const std::string& inside) {
  auto verified = verify_unit(root, inside);
  if (!verified.ran) {
    WARN("SKIPPED: " << verified.output);
    return false;
  }
  INFO(verified.output);
  CHECK(verified.code == 0);
  CHECK(verified.output.empty());
  return true;
}

}  // namespace processpype::testing
