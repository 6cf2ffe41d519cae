#include "processpype/runtime/errors.hpp"

namespace processpype {

std::string_view to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::bad_request:
      return "bad_request";
    case ErrorCode::not_found:
      return "not_found";
    case ErrorCode::method_not_allowed:
      return "method_not_allowed";
    case ErrorCode::conflict:
      return "conflict";
    case ErrorCode::invalid_configuration:
      return "invalid_configuration";
    case ErrorCode::service_failure:
      return "service_failure";
    case ErrorCode::node_unavailable:
      return "node_unavailable";
    case ErrorCode::timeout:
      return "timeout";
  }
  return "unknown";
}

int http_status(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::bad_request:
      return 400;
    case ErrorCode::not_found:
      return 404;
    case ErrorCode::method_not_allowed:
      return 405;
    case ErrorCode::conflict:
      return 409;
    case ErrorCode::invalid_configuration:
      return 422;
    case ErrorCode::service_failure:
      return 500;
    case ErrorCode::node_unavailable:
      return 503;
    case ErrorCode::timeout:
      return 504;
  }
  return 500;
}

}  // namespace processpype
