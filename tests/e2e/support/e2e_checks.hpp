#pragma once

// Assertions shared by the e2e and cluster suites (they need Catch2, which
// e2e_support.hpp does not include).

#include <optional>
#include <string>

#include <catch2/catch.hpp>

#include "e2e_support.hpp"

namespace e2e {

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

}  // namespace e2e
