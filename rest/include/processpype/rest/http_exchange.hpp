#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace processpype::rest {

/// One HTTP request in flight, seen without the HTTP library: the routing
/// table and its handlers work on this, so they are testable without a
/// socket. respond() is called exactly once, from any thread.
class HttpExchange {
 public:
  virtual ~HttpExchange() = default;

  virtual std::string_view method() const = 0;
  /// The path without the query string, still percent-encoded.
  virtual std::string_view path() const = 0;
  /// The raw query string (without '?'), empty if none.
  virtual std::string_view query() const = 0;
  virtual std::string_view body() const = 0;

  /// `allow` (for 405) becomes the Allow header when not empty.
  virtual void respond(int status, std::string json_body, std::string_view allow = {}) = 0;
};

using ExchangePtr = std::shared_ptr<HttpExchange>;

}  // namespace processpype::rest
