#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

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

  /// Nothing when `authorization` (the header's value, if any) allows
  /// `method`; else the refusal: unauthorized (401) or forbidden (403).
  std::optional<Error> check(std::string_view method, std::optional<std::string_view> authorization,
                             const std::string& peer);

 private:
  void log_refusal(const std::string& peer, std::string_view why);

  mutable std::mutex mutex_;
  std::shared_ptr<const Tokens> tokens_;
  std::atomic<std::int64_t> last_log_{0};
  std::atomic<std::uint64_t> unlogged_{0};
};

}  // namespace processpype::rest
