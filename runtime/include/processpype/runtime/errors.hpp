#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace processpype {

/// Why a command was refused or failed. Every layer speaks these codes; the
/// REST layer answers each with one HTTP status (http_status), the embedding
/// API throws them inside processpype::Error.
enum class ErrorCode : std::uint8_t {
  bad_request = 1,     ///< malformed input: bad name, malformed JSON (400)
  unauthorized,        ///< no or unknown token (401)
  forbidden,           ///< a token that may not do this (403)
  not_found,           ///< unknown service, class, node or route (404)
  method_not_allowed,  ///< the path exists, not for this method (405)
  conflict,            ///< the command does not fit the current state (409)
  payload_too_large,   ///< a body over the limit (413)
  uri_too_long,        ///< a request target over the limit (414)
  invalid_value,       ///< well-formed input whose values are refused (422)
  headers_too_large,   ///< request headers over the limit (431)
  service_failure,     ///< the manager threw or timed out (500)
  node_unavailable,    ///< the addressed node is down, or the node is busy (503)
  timeout,             ///< no answer within the request timeout (504)
  unreachable,         ///< nothing answers at the address (yet): connection refused (503)
};

/// The lowercase name of `code`, e.g. "not_found".
std::string_view to_string(ErrorCode code) noexcept;

/// The HTTP status of `code`: the one mapping from errors to HTTP.
int http_status(ErrorCode code) noexcept;

/// The exception of the whole runtime: a code and the detail text that REST
/// clients see in `{"detail": ...}`. Service code throws it to refuse a
/// request (`throw Error(ErrorCode::conflict, "...")`).
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
