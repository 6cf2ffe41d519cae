#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "processpype/rest/http_exchange.hpp"
#include "processpype/rest/tokens.hpp"
#include "processpype/runtime/errors.hpp"

namespace spdlog {
class logger;
}

namespace processpype::rest {

/// The log of refused requests (docs/security.md): at most one line per
/// second. The refusals in between are counted and reported, with the
/// time span they fall in, by the next line: the next refusal's, or a line
/// of their own once the second is over (at the first request checked
/// then, or by the timer, whichever comes first).
class RefusalLog : public std::enable_shared_from_this<RefusalLog> {
 public:
  /// Runs `then` after `delay`, on another thread, without blocking.
  using Timer =
      std::function<void(std::chrono::steady_clock::duration delay, std::function<void()> then)>;

  /// Without a timer, held refusals wait for the next request checked.
  explicit RefusalLog(Timer timer = {});
  /// Logs what is held at once: a node that stops within a burst's second
  /// still reports it.
  ~RefusalLog();
  RefusalLog(const RefusalLog&) = delete;
  RefusalLog& operator=(const RefusalLog&) = delete;

  /// Logs the refusal with the peer's address, or counts it while the last
  /// line is under a second old.
  void refused(const HttpExchange& exchange, std::string_view why);
  /// Logs the refusals counted, once the last line is a second old: a
  /// relaxed load when none are (every allowed request calls it).
  void report_held();

 private:
  using Clock = std::chrono::steady_clock;
  /// Refusals not logged one by one, with the times of the first and last.
  struct Held {
    std::uint64_t count = 0;
    std::chrono::system_clock::time_point first, last;
  };

  bool line_allowed(Clock::time_point now) const;
  /// Counts a refusal; true for the first of a burst.
  bool hold();
  /// Starts a line's second and hands over what was held.
  Held take(Clock::time_point now);
  /// Asks the timer for report_held() once the last line is a second old.
  void report_when_allowed(Clock::time_point now, Clock::time_point last_line);

  Timer timer_;
  /// Its own reference: a log destroyed at exit, after the logger's static
  /// (the fuzzing harness is a static), still writes what it holds.
  std::shared_ptr<spdlog::logger> log_;
  std::mutex mutex_;
  Clock::time_point last_line_{};
  Held held_;
  std::atomic<bool> holding_{false};
};

/// A SHA-256 of a bearer token: what an open event stream keeps, instead of
/// the token, to be checked again when the tokens change (docs/security.md).
using TokenDigest = std::array<unsigned char, 32>;

/// The digest of the bearer token of `exchange`'s Authorization header;
/// nothing without one.
std::optional<TokenDigest> bearer_digest(const HttpExchange& exchange);

/// Whether `tokens` let the bearer of `token` (nothing: no token) GET, in
/// constant time as Authorizer::check.
bool allows_get(const Tokens& tokens, const std::optional<TokenDigest>& token);

/// Checks bearer tokens (docs/security.md): the admin token may do
/// everything, the read token only GET. Tokens are compared in constant
/// time and never logged; refusals go to the RefusalLog.
class Authorizer {
 public:
  explicit Authorizer(Tokens tokens, RefusalLog::Timer timer = {});

  void set_tokens(Tokens tokens);
  bool enabled() const;

  /// Nothing when the request's Authorization header allows its method;
  /// else the refusal: unauthorized (401) or forbidden (403).
  std::optional<Error> check(const HttpExchange& exchange);

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Tokens> tokens_;
  /// Shared with the timer's callbacks, which may outlive this.
  std::shared_ptr<RefusalLog> refusals_;
};

}  // namespace processpype::rest
