#pragma once

// Catch2 assertions on the harness's responses, shared by the e2e and
// cluster suites. The only header of processpype_testing that needs Catch2:
// include it from test sources only.

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "processpype/testing/cluster.hpp"
#include "processpype/testing/http.hpp"
#include "processpype/testing/process.hpp"
#include "processpype/testing/server.hpp"

/// `assertion` (REQUIRE or CHECK) of `response.status == expected`, with the
/// response printed on failure.
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

}  // namespace processpype::testing
