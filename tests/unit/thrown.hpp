#pragma once

// What a refused input threw, for the tests of parsers and validators.

#include <optional>

namespace unit_tests {

/// The `Error` that `attempt` throws; nullopt when it throws none.
template <class Error, class Attempt>
std::optional<Error> thrown_by(Attempt&& attempt) {
  try {
    attempt();
  } catch (const Error& error) {
    return error;
  }
  return std::nullopt;
}

}  // namespace unit_tests
