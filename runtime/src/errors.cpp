#include "processpype/runtime/errors.hpp"

namespace processpype {

namespace {

struct CodeInfo {
  std::string_view name;
  int status;
};

constexpr CodeInfo info(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::bad_request:
      return {"bad_request", 400};
    case ErrorCode::unauthorized:
      return {"unauthorized", 401};
    case ErrorCode::forbidden:
      return {"forbidden", 403};
    case ErrorCode::not_found:
      return {"not_found", 404};
    case ErrorCode::method_not_allowed:
      return {"method_not_allowed", 405};
    case ErrorCode::conflict:
      return {"conflict", 409};
    case ErrorCode::payload_too_large:
      return {"payload_too_large", 413};
    case ErrorCode::uri_too_long:
      return {"uri_too_long", 414};
    case ErrorCode::invalid_value:
      return {"invalid_value", 422};
    case ErrorCode::headers_too_large:
      return {"headers_too_large", 431};
    case ErrorCode::service_failure:
      return {"service_failure", 500};
    case ErrorCode::node_unavailable:
      return {"node_unavailable", 503};
    case ErrorCode::timeout:
      return {"timeout", 504};
    case ErrorCode::unreachable:
      return {"unreachable", 503};
  }
  return {"unknown", 500};
}

}  // namespace

std::string_view to_string(ErrorCode code) noexcept {
  return info(code).name;
}

int http_status(ErrorCode code) noexcept {
  return info(code).status;
}

}  // namespace processpype
