#include "authorizer.hpp"

#include <openssl/crypto.h>
#include <algorithm>
#include <cctype>

#include "processpype/runtime/logging.hpp"

namespace processpype::rest {

namespace {

bool same_token(std::string_view given, const std::string& expected) {
  if (expected.empty() || given.size() != expected.size()) return false;
  return CRYPTO_memcmp(given.data(), expected.data(), expected.size()) == 0;
}

spdlog::logger& auth_log() {
  static auto logger = make_logger("processpype.auth");
  return *logger;
}

}  // namespace

Authorizer::Authorizer(Tokens tokens)
    : tokens_(std::make_shared<const Tokens>(std::move(tokens))) {}

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

std::optional<Error> Authorizer::check(const HttpExchange& exchange) {
  std::shared_ptr<const Tokens> tokens;
  {
    std::lock_guard lock{mutex_};
    tokens = tokens_;
  }
  if (tokens->admin.empty()) return std::nullopt;
  auto method = exchange.method();
  auto authorization = exchange.header("Authorization");
  constexpr std::string_view scheme = "bearer ";
  if (!authorization || authorization->size() <= scheme.size() ||
      !is_scheme(authorization->substr(0, scheme.size()), scheme)) {
    log_refusal(exchange, "no bearer token");
    return Error(ErrorCode::unauthorized, "A bearer token is required (Authorization: Bearer ...)");
  }
  auto token = authorization->substr(scheme.size());
  if (same_token(token, tokens->admin)) return std::nullopt;
  if (same_token(token, tokens->read)) {
    if (method == "GET") return std::nullopt;
    log_refusal(exchange, "read token used for " + std::string{method});
    return Error(ErrorCode::forbidden, "The read token may only use GET");
  }
  log_refusal(exchange, "unknown token");
  return Error(ErrorCode::unauthorized, "Unknown token");
}

void Authorizer::log_refusal(const HttpExchange& exchange, std::string_view why) {
  // At most one line per rolling second, however many refusals.
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now().time_since_epoch())
                 .count();
  auto last = last_log_.load(std::memory_order_relaxed);
  if ((last != 0 && now - last < 1000) || !last_log_.compare_exchange_strong(last, now)) {
    unlogged_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  auto skipped = unlogged_.exchange(0, std::memory_order_relaxed);
  auto peer = exchange.peer();
  if (skipped > 0)
    auth_log().warn("Refused a request from {}: {} ({} more refused in the last second)", peer, why,
                    skipped);
  else
    auth_log().warn("Refused a request from {}: {}", peer, why);
}

}  // namespace processpype::rest
