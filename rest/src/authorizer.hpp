#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "processpype/rest/http_exchange.hpp"
#include "processpype/rest/tokens.hpp"
#include "processpype/runtime/errors.hpp"

namespace processpype::rest {

/// Checks bearer tokens (docs/security.md): the admin token may do
/// everything, the read token only GET. Tokens are compared in constant
/// time and never logged; refusals are logged with the peer's address, at
/// most one line per second.
class Authorizer {
 public:
  explicit Authorizer(Tokens tokens);

  void set_tokens(Tokens tokens);
  bool enabled() const;

  /// Nothing when the request's Authorization header allows its method;
  /// else the refusal: unauthorized (401) or forbidden (403).
  std::optional<Error> check(const HttpExchange& exchange);

 private:
  /// Formats the peer's address only for a line it writes: most requests
  /// are allowed, and the text costs a few percent of a request's CPU.
  void log_refusal(const HttpExchange& exchange, std::string_view why);

  mutable std::mutex mutex_;
  std::shared_ptr<const Tokens> tokens_;
  std::atomic<std::int64_t> last_log_{0};
  std::atomic<std::uint64_t> unlogged_{0};
};

}  // namespace processpype::rest
