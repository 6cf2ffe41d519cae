// ErrorCode: the one mapping from errors to HTTP statuses and names.
#include <string>
#include <tuple>

#include <catch2/catch.hpp>

#include "processpype/runtime/errors.hpp"

using processpype::Error;
using processpype::ErrorCode;

TEST_CASE("every error code has its HTTP status and lowercase name") {
  auto [code, status, name] = GENERATE(table<ErrorCode, int, std::string>({
      {ErrorCode::bad_request, 400, "bad_request"},
      {ErrorCode::unauthorized, 401, "unauthorized"},
      {ErrorCode::forbidden, 403, "forbidden"},
      {ErrorCode::not_found, 404, "not_found"},
      {ErrorCode::method_not_allowed, 405, "method_not_allowed"},
      {ErrorCode::conflict, 409, "conflict"},
      {ErrorCode::payload_too_large, 413, "payload_too_large"},
      {ErrorCode::uri_too_long, 414, "uri_too_long"},
      {ErrorCode::invalid_value, 422, "invalid_value"},
      {ErrorCode::headers_too_large, 431, "headers_too_large"},
      {ErrorCode::service_failure, 500, "service_failure"},
      {ErrorCode::node_unavailable, 503, "node_unavailable"},
      {ErrorCode::timeout, 504, "timeout"},
      {ErrorCode::unreachable, 503, "unreachable"},
  }));
  INFO(name);
  CHECK(processpype::http_status(code) == status);
  CHECK(processpype::to_string(code) == name);
}

TEST_CASE("an Error keeps its code and the whole detail, embedded NULs included") {
  std::string detail{"before\0after", 12};
  Error error{ErrorCode::conflict, detail};
  CHECK(error.code() == ErrorCode::conflict);
  CHECK(error.detail() == detail);
  CHECK(std::string{error.what()} == "before");
}
