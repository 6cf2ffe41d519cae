#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace processpype {

/// Why a command was refused or failed. Every layer speaks these codes; the
/// REST layer maps each to one HTTP status (rest/error_mapping).
enum class ErrorCode : std::uint8_t {
  bad_request = 1,        ///< malformed input: bad name, malformed JSON (400)
  not_found,              ///< unknown service, class, node or route (404)
  method_not_allowed,     ///< a custom route exists, not for this method (405)
  conflict,               ///< the command does not fit the current state (409)
  invalid_configuration,  ///< the configuration was refused (422)
  service_failure,        ///< the manager threw or timed out (500)
  node_unavailable,       ///< the addressed node is down (503)
  timeout,                ///< no answer within the request timeout (504)
};

/// The lowercase name of `code`, e.g. "not_found".
std::string_view to_string(ErrorCode code) noexcept;

/// The HTTP status of `code`: the one mapping from errors to HTTP.
int http_status(ErrorCode code) noexcept;

/// The exception of the embedding API: a code and the same detail text that
/// REST clients see in `{"detail": ...}`.
class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& detail)
      : std::runtime_error(detail), code_(code), detail_(detail) {}

  ErrorCode code() const noexcept { return code_; }
  /// The whole text, even with embedded NULs (what() stops at the first).
  const std::string& detail() const noexcept { return detail_; }

 private:
  ErrorCode code_;
  std::string detail_;
};

}  // namespace processpype
