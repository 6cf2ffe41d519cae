#include "gateway.hpp"

#include <algorithm>
#include <limits>
#include <mutex>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>
#include <unistd.h>

#include "gateway_json.hpp"

namespace processpype::etcd::internal {

namespace {

/// A bigger answer is not etcd's (the gateway's own request limit is 1.5 MiB;
/// a range of many keys stays far below this).
constexpr std::size_t max_answer_bytes = 256 * 1024 * 1024;

/// Idle handles kept for later calls; more concurrent calls make more.
constexpr std::size_t max_idle_handles = 16;

/// gRPC's UNAVAILABLE: the member cannot serve now (no leader, shutting
/// down); another member may.
constexpr int unavailable_code = 14;

struct AnswerBuffer {
  std::string text;
  bool too_large = false;
};

std::size_t on_answer_data(char* data, std::size_t size, std::size_t count, void* user) {
  auto* answer = static_cast<AnswerBuffer*>(user);
  if (answer->text.size() + size * count > max_answer_bytes) {
    answer->too_large = true;
    return 0;  // aborts the transfer
  }
  answer->text.append(data, size * count);
  return size * count;
}

/// `object[name]` when it is a string, else `fallback`.
std::string string_member(const json& object, std::string_view name, std::string fallback) {
  auto found = object.find(name);
  return found != object.end() && found->is_string() ? found->get<std::string>() : fallback;
}

/// `object[name]` when it is an integer that fits an int, else nullopt.
std::optional<int> int_member(const json& object, std::string_view name) {
  auto found = object.find(name);
  if (found == object.end() || !found->is_number_integer()) return std::nullopt;
  auto value = found->get<std::int64_t>();
  if (value < std::numeric_limits<int>::min() || value > std::numeric_limits<int>::max())
    return std::nullopt;
  return static_cast<int>(value);
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

std::string checked_endpoint(std::string endpoint) {
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  for (std::string_view scheme : {"http://", "https://"})
    if (starts_with(endpoint, scheme) && endpoint.size() > scheme.size()) return endpoint;
  throw std::invalid_argument("etcd endpoint \"" + endpoint +
                              "\" is not an http:// or https:// URL");
}

void check_readable(const std::string& path, std::string_view what) {
  if (!path.empty() && ::access(path.c_str(), R_OK) != 0)
    throw std::invalid_argument(fmt::format("etcd TLS {} {} cannot be read", what, path));
}

void check_options(ClientOptions& options) {
  if (options.endpoints.empty()) throw std::invalid_argument("etcd client without endpoints");
  for (auto& endpoint : options.endpoints) endpoint = checked_endpoint(std::move(endpoint));
  if (options.request_timeout <= 0ms || options.connect_timeout <= 0ms)
    throw std::invalid_argument("etcd client timeouts must be above zero");
  const auto& tls = options.tls;
  if (tls.certificate.empty() != tls.key.empty())
    throw std::invalid_argument("etcd TLS client certificate and key go together");
  check_readable(tls.ca, "CA");
  check_readable(tls.certificate, "certificate");
  check_readable(tls.key, "key");
}

long milliseconds_of(Clock::duration duration) {
  auto count = std::chrono::ceil<std::chrono::milliseconds>(duration).count();
  return static_cast<long>(std::max<decltype(count)>(count, 1));
}

StoreError malformed_answer(const std::string& endpoint, std::string_view path,
                            std::string_view reason) {
  return StoreError(StoreError::Kind::malformed, fmt::format("etcd {}{}: malformed answer: {}",
                                                             endpoint, path, excerpt(reason, 300)));
}

std::string join(const std::vector<std::string>& parts) {
  return fmt::format("{}", fmt::join(parts, "; "));
}

/// Gives the handle back to the pool, however the call ends.
class BorrowedHandle {
 public:
  BorrowedHandle(CURL* handle, std::function<void(CURL*)> give_back)
      : handle_(handle), give_back_(std::move(give_back)) {}
  ~BorrowedHandle() { give_back_(handle_); }
  BorrowedHandle(const BorrowedHandle&) = delete;
  BorrowedHandle& operator=(const BorrowedHandle&) = delete;
  CURL* get() const noexcept { return handle_; }

 private:
  CURL* handle_;
  std::function<void(CURL*)> give_back_;
};

}  // namespace

void initialize_curl() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string excerpt(std::string_view text, std::size_t limit) {
  std::string line(text.substr(0, limit));
  // One line: an error message never spans lines.
  std::replace_if(
      line.begin(), line.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return text.size() <= limit ? line : line + "...";
}

struct Gateway::Attempt {
  enum class Outcome {
    answered,    ///< an HTTP answer came (any status)
    not_sent,    ///< no connection: the endpoint never saw the request
    unanswered,  ///< sent, then no (complete) answer in time
  };
  Outcome outcome = Outcome::answered;
  long status = 0;
  std::string body;
  std::string failure;  ///< why there is no answer
  bool timed_out = false;
};

Gateway::Gateway(ClientOptions options) : options_(std::move(options)) {
  check_options(options_);
  initialize_curl();
  headers_ = curl_slist_append(headers_, "Content-Type: application/json");
  headers_ = curl_slist_append(headers_, "Expect:");
}

Gateway::~Gateway() {
  for (CURL* handle : idle_handles_) curl_easy_cleanup(handle);
  curl_slist_free_all(headers_);
}

void Gateway::prepare(CURL* handle, const std::string& url,
                      std::chrono::milliseconds connect_timeout) const {
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_PROXY, "");
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, milliseconds_of(connect_timeout));
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers_);
  curl_easy_setopt(handle, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(handle, CURLOPT_SSL_VERIFYHOST, 2L);
  const auto& tls = options_.tls;
  if (!tls.ca.empty()) curl_easy_setopt(handle, CURLOPT_CAINFO, tls.ca.c_str());
  if (!tls.certificate.empty()) {
    curl_easy_setopt(handle, CURLOPT_SSLCERT, tls.certificate.c_str());
    curl_easy_setopt(handle, CURLOPT_SSLKEY, tls.key.c_str());
  }
}

CURL* Gateway::borrow_handle() {
  {
    std::lock_guard lock{pool_mutex_};
    if (!idle_handles_.empty()) {
      CURL* handle = idle_handles_.back();
      idle_handles_.pop_back();
      return handle;
    }
  }
  CURL* handle = curl_easy_init();
  if (handle == nullptr) throw std::runtime_error("curl_easy_init failed");
  return handle;
}

void Gateway::return_handle(CURL* handle) {
  std::unique_lock lock{pool_mutex_};
  if (idle_handles_.size() < max_idle_handles) {
    idle_handles_.push_back(handle);
    return;
  }
  lock.unlock();
  curl_easy_cleanup(handle);
}

Gateway::Attempt Gateway::attempt(CURL* handle, std::size_t endpoint, std::string_view path,
                                  const std::string& body, Clock::time_point deadline) {
  auto remaining = deadline - Clock::now();
  auto url = options_.endpoints[endpoint] + std::string(path);
  curl_easy_reset(handle);  // keeps the handle's open connections
  prepare(
      handle, url,
      std::min(options_.connect_timeout, std::chrono::ceil<std::chrono::milliseconds>(remaining)));
  char error_buffer[CURL_ERROR_SIZE] = {};
  AnswerBuffer answer;
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, milliseconds_of(remaining));
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(handle, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, on_answer_data);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &answer);

  count_request();
  CURLcode result = curl_easy_perform(handle);
  curl_off_t pretransfer = 0;
  curl_easy_getinfo(handle, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
  Attempt attempt;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &attempt.status);
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, nullptr);

  if (result == CURLE_OK) {
    attempt.body = std::move(answer.text);
    return attempt;
  }
  // Before the transfer began (connection and TLS established) nothing
  // was sent: any endpoint may take the call.
  attempt.outcome = pretransfer == 0 ? Attempt::Outcome::not_sent : Attempt::Outcome::unanswered;
  attempt.timed_out = result == CURLE_OPERATION_TIMEDOUT;
  if (answer.too_large)
    attempt.failure = fmt::format("an answer over {} bytes", max_answer_bytes);
  else if (error_buffer[0] != '\0')
    attempt.failure = fmt::format("{} ({})", curl_easy_strerror(result), error_buffer);
  else
    attempt.failure = curl_easy_strerror(result);
  return attempt;
}

json Gateway::interpret(const Attempt& attempt, const std::string& endpoint,
                        std::string_view path) const {
  auto answer = json::parse(attempt.body, nullptr, false);
  // A streamed call (keep-alive) reports its errors in the body of a 200:
  // {"error": {"grpc_code": 14, "http_code": 503, "message": "..."}}.
  if (answer.is_object() && answer.contains("error") && answer["error"].is_object()) {
    const auto& error = answer["error"];
    auto message = string_member(error, "message", "no message");
    int code = int_member(error, "grpc_code").value_or(0);
    throw StoreError(
        StoreError::Kind::rejected,
        fmt::format("etcd {}{}: rejected: {} (code {})", endpoint, path, message, code), message,
        code);
  }
  if (attempt.status == 200 && answer.is_object()) return answer;
  // Otherwise {"error": "...", "message": "...", "code": 5} with a 4xx/5xx.
  if (attempt.status != 200 && answer.is_object() && int_member(answer, "code") &&
      answer.contains("message") && answer["message"].is_string()) {
    auto message = answer["message"].get<std::string>();
    int code = *int_member(answer, "code");
    throw StoreError(StoreError::Kind::rejected,
                     fmt::format("etcd {}{}: rejected: {} (HTTP {}, code {})", endpoint, path,
                                 message, attempt.status, code),
                     message, code);
  }
  throw StoreError(StoreError::Kind::malformed,
                   fmt::format("etcd {}{}: HTTP {} with an answer that is not etcd's: {}", endpoint,
                               path, attempt.status, excerpt(attempt.body)));
}

void Gateway::pass_over(std::size_t index) noexcept {
  // The next call starts elsewhere, unless another call moved on already.
  auto expected = index;
  preferred_.compare_exchange_strong(expected, (index + 1) % endpoint_count());
}

void Gateway::call(std::string_view path, const json& body, Resend resend, const Decoder& decode) {
  auto started = Clock::now();
  bool ok = false;
  auto report = [&] {
    if (!options_.on_request) return;
    try {
      options_.on_request(Clock::now() - started, ok);
    } catch (...) {  // a metrics hook does not change the call's outcome
    }
  };
  try {
    call_endpoints(path, body, resend, decode);
  } catch (...) {
    report();
    throw;
  }
  ok = true;
  report();
}

bool Gateway::accept(const Attempt& attempt, std::size_t index, std::string_view path,
                     Resend resend, const Decoder& decode, std::vector<std::string>& failures) {
  const auto& endpoint = options_.endpoints[index];
  json answer;
  try {
    answer = interpret(attempt, endpoint, path);
  } catch (const StoreError& error) {
    bool another_may_serve = error.kind() == StoreError::Kind::rejected &&
                             error.code() == unavailable_code && resend == Resend::always;
    if (!another_may_serve) throw;
    failures.push_back(endpoint + ": " + error.etcd_message());
    return false;
  }
  try {
    decode(answer, endpoint);
  } catch (const DecodeError& error) {
    throw malformed_answer(endpoint, path, error.what());
  } catch (const json::exception& error) {
    throw malformed_answer(endpoint, path, error.what());
  }
  return true;
}

void Gateway::call_endpoints(std::string_view path, const json& body, Resend resend,
                             const Decoder& decode) {
  auto deadline = Clock::now() + options_.request_timeout;
  auto text = body.dump();
  BorrowedHandle handle(borrow_handle(), [this](CURL* borrowed) { return_handle(borrowed); });
  std::vector<std::string> failures;
  std::size_t first = preferred();
  for (std::size_t offset = 0; offset < endpoint_count(); ++offset) {
    std::size_t index = (first + offset) % endpoint_count();
    const auto& endpoint = options_.endpoints[index];
    if (Clock::now() >= deadline) {
      failures.push_back(endpoint + ": not tried, the request timeout had passed");
      continue;
    }
    auto budget = deadline - Clock::now();
    auto result = attempt(handle.get(), index, path, text, deadline);
    // An endpoint that ran out of what was left of another's timeout is
    // not to blame.
    bool had_its_chance = !result.timed_out || budget * 2 >= options_.request_timeout;
    if (result.outcome != Attempt::Outcome::answered && had_its_chance) pass_over(index);
    if (result.outcome == Attempt::Outcome::unanswered && resend == Resend::never)
      throw StoreError(StoreError::Kind::unreachable,
                       fmt::format("etcd {}{}: sent, no answer: {} (it may have been applied)",
                                   endpoint, path, result.failure),
                       {}, 0, true);
    if (result.outcome != Attempt::Outcome::answered) {
      failures.push_back(endpoint + ": " + result.failure);
      continue;
    }
    if (!accept(result, index, path, resend, decode, failures)) continue;
    prefer(index);
    return;
  }
  throw StoreError(StoreError::Kind::unreachable,
                   fmt::format("etcd {}: no endpoint answered: {}", path, join(failures)));
}

}  // namespace processpype::etcd::internal
