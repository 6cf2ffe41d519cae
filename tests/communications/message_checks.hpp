#pragma once

// Catch2 checks on what a dispatcher counted and on the JSON messages a
// receiver got.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "communications_fixtures.hpp"

namespace processpype::testing {

/// Checks that `body` has each field of `expected` with its value (other
/// fields may be there too); a failure names the field.
inline void check_fields(const nlohmann::json& body, const nlohmann::json& expected) {
  for (const auto& [key, value] : expected.items()) {
    INFO("field " << key << " of " << body.dump());
    CHECK(body.value(key, nlohmann::json()) == value);
  }
}

/// The backend `name` of `dispatcher` sent nothing and counted one message failed.
inline void check_one_failed(const communications::Dispatcher& dispatcher,
                             const std::string& name) {
  auto counters = counters_of(dispatcher, name);
  CHECK(counters.sent == 0);
  CHECK(counters.failed == 1);
}

}  // namespace processpype::testing
