#include "authorizer.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <algorithm>
#include <cctype>
#include <utility>

#include <fmt/format.h>

#include "processpype/runtime/logging.hpp"
#include "processpype/runtime/service_status.hpp"

namespace processpype::rest {

namespace {

bool same_token(std::string_view given, const std::string& expected) {
  if (expected.empty() || given.size() != expected.size()) return false;
  return CRYPTO_memcmp(given.data(), expected.data(), expected.size()) == 0;
}

TokenDigest digest_of(std::string_view token) {
  TokenDigest digest{};
  EVP_Digest(token.data(), token.size(), digest.data(), nullptr, EVP_sha256(), nullptr);
  return digest;
}

bool same_digest(const TokenDigest& given, const std::string& expected) {
  if (expected.empty()) return false;
  auto digest = digest_of(expected);
  return CRYPTO_memcmp(given.data(), digest.data(), digest.size()) == 0;
}

std::shared_ptr<spdlog::logger> auth_log() {
  static auto logger = make_logger("processpype.auth");
  return logger;
}

}  // namespace

Authorizer::Authorizer(Tokens tokens, RefusalLog::Timer timer)
    : tokens_(std::make_shared<const Tokens>(std::move(tokens))),
      refusals_(std::make_shared<RefusalLog>(std::move(timer))) {}

void Authorizer::set_tokens(Tokens tokens) {
  auto replacement = std::make_shared<const Tokens>(std::move(tokens));
  std::lock_guard lock{mutex_};
  tokens_ = std::move(replacement);
}

namespace {

/// Authentication schemes are case-insensitive (RFC 9110 11.1).
bool is_scheme(std::string_view given, std::string_view lowercase_scheme) {
  return std::equal(
      given.begin(), given.end(), lowercase_scheme.begin(), lowercase_scheme.end(),
      [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
}

}  // namespace

bool Authorizer::enabled() const {
  std::lock_guard lock{mutex_};
  return !tokens_->admin.empty();
}

namespace {

struct Refusal {
  Error error;
  /// What the log says: never the token.
  std::string why;
};

/// The token of an `Authorization: Bearer <token>` header.
std::optional<std::string_view> bearer_token(const HttpExchange& exchange) {
  auto authorization = exchange.header("Authorization");
  constexpr std::string_view scheme = "bearer ";
  if (!authorization || authorization->size() <= scheme.size() ||
      !is_scheme(authorization->substr(0, scheme.size()), scheme))
    return std::nullopt;
  return authorization->substr(scheme.size());
}

std::optional<Refusal> refusal_of(const HttpExchange& exchange, const Tokens& tokens) {
  auto token = bearer_token(exchange);
  if (!token)
    return Refusal{
        Error(ErrorCode::unauthorized, "A bearer token is required (Authorization: Bearer ...)"),
        "no bearer token"};
  if (same_token(*token, tokens.admin)) return std::nullopt;
  if (same_token(*token, tokens.read)) {
    auto method = exchange.method();
    if (method == "GET") return std::nullopt;
    return Refusal{Error(ErrorCode::forbidden, "The read token may only use GET"),
                   "read token used for " + std::string{method}};
  }
  return Refusal{Error(ErrorCode::unauthorized, "Unknown token"), "unknown token"};
}

/// "5 requests from <first> to <last>", in UTC as the JSON log lines: the
/// refusals a line reports besides its own, never under its reason.
std::string held_text(std::uint64_t count, std::chrono::system_clock::time_point first,
                      std::chrono::system_clock::time_point last) {
  if (count == 1) return fmt::format("1 request at {}", format_utc(first));
  return fmt::format("{} requests from {} to {}", count, format_utc(first), format_utc(last));
}

}  // namespace

std::optional<TokenDigest> bearer_digest(const HttpExchange& exchange) {
  auto token = bearer_token(exchange);
  if (!token) return std::nullopt;
  return digest_of(*token);
}

bool allows_get(const Tokens& tokens, const std::optional<TokenDigest>& token) {
  if (tokens.admin.empty()) return true;  // no tokens: everyone may
  if (!token) return false;
  // Both compared, whichever matches: the time says nothing of which.
  bool admin = same_digest(*token, tokens.admin);
  bool read = same_digest(*token, tokens.read);
  return admin || read;
}

std::optional<Error> Authorizer::check(const HttpExchange& exchange) {
  std::shared_ptr<const Tokens> tokens;
  {
    std::lock_guard lock{mutex_};
    tokens = tokens_;
  }
  if (tokens->admin.empty()) return std::nullopt;
  auto refusal = refusal_of(exchange, *tokens);
  if (!refusal) {
    refusals_->report_held();
    return std::nullopt;
  }
  refusals_->refused(exchange, refusal->why);
  return std::move(refusal->error);
}

// -- RefusalLog -------------------------------------------------------------------------------

bool RefusalLog::line_allowed(Clock::time_point now) const {
  return last_line_ == Clock::time_point{} || now - last_line_ >= std::chrono::seconds(1);
}

bool RefusalLog::hold() {
  auto now = std::chrono::system_clock::now();
  bool first = held_.count++ == 0;
  if (first) held_.first = now;
  held_.last = now;
  holding_.store(true, std::memory_order_relaxed);
  return first;
}

void RefusalLog::report_when_allowed(Clock::time_point now, Clock::time_point last_line) {
  if (!timer_) return;
  // A timer that fires a little early finds the line not allowed yet: the
  // margin keeps the count from waiting for the next request then.
  auto delay = last_line + std::chrono::seconds(1) - now + std::chrono::milliseconds(5);
  timer_(delay, [log = weak_from_this()] {
    if (auto alive = log.lock()) alive->report_held();
  });
}

RefusalLog::Held RefusalLog::take(Clock::time_point now) {
  last_line_ = now;
  holding_.store(false, std::memory_order_relaxed);
  return std::exchange(held_, Held{});
}

void RefusalLog::refused(const HttpExchange& exchange, std::string_view why) {
  Held earlier;
  {
    std::unique_lock lock{mutex_};
    auto now = Clock::now();
    if (!line_allowed(now)) {
      auto first = hold();
      auto last_line = last_line_;
      lock.unlock();
      if (first) report_when_allowed(now, last_line);
      return;
    }
    earlier = take(now);
  }
  // The peer's address is formatted only for a line written: most requests
  // are allowed, and the text costs a few percent of a request's CPU.
  auto peer = exchange.peer();
  if (earlier.count == 0)
    log_->warn("Refused a request from {}: {}", peer, why);
  else
    log_->warn("Refused a request from {}: {} (also refused, not logged: {})", peer, why,
               held_text(earlier.count, earlier.first, earlier.last));
}

RefusalLog::RefusalLog(Timer timer) : timer_(std::move(timer)), log_(auth_log()) {}

RefusalLog::~RefusalLog() {
  if (held_.count > 0)
    log_->warn("Refused, not logged: {}", held_text(held_.count, held_.first, held_.last));
}

void RefusalLog::report_held() {
  if (!holding_.load(std::memory_order_relaxed)) return;
  Held earlier;
  {
    std::lock_guard lock{mutex_};
    auto now = Clock::now();
    if (held_.count == 0 || !line_allowed(now)) return;
    earlier = take(now);
  }
  log_->warn("Refused, not logged: {}", held_text(earlier.count, earlier.first, earlier.last));
}

}  // namespace processpype::rest
