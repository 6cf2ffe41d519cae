#pragma once

// The HTTP side of the client, shared by Client and Watch: the endpoints
// and which one answered last, TLS, the pool of libcurl handles, the
// request counter, and one call with failover. Internal to processpype_etcd.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include "processpype/etcd/etcd_client.hpp"

namespace processpype::etcd::internal {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

/// Whether a call may go to another endpoint once an endpoint received it
/// and did not answer.
enum class Resend {
  never,   ///< a write: it may have been applied
  always,  ///< a read, or a lease call whose repetition is harmless
};

class Gateway {
 public:
  /// Throws std::invalid_argument for options that cannot work.
  explicit Gateway(ClientOptions options);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  /// Reads etcd's answer; throws DecodeError when it lacks the expected shape.
  using Decoder = std::function<void(const json& answer, const std::string& endpoint)>;

  /// POSTs `body` to `path` ("/v3/kv/put"), the endpoint that answered last
  /// first, and hands etcd's answer to `decode`. Throws StoreError; reports
  /// to on_request.
  void call(std::string_view path, const json& body, Resend resend, const Decoder& decode);

  const ClientOptions& options() const noexcept { return options_; }
  std::size_t endpoint_count() const noexcept { return options_.endpoints.size(); }
  const std::string& endpoint(std::size_t index) const { return options_.endpoints[index]; }
  /// The index of the endpoint that answered last.
  std::size_t preferred() const noexcept { return preferred_.load(); }
  void prefer(std::size_t index) noexcept { preferred_.store(index); }
  /// Endpoint `index` did not answer: the next call tries the one after it
  /// first (a silent endpoint costs one call its timeout, not every call).
  void pass_over(std::size_t index) noexcept;

  /// Sets what every request of this client has in common on `handle`
  /// (freshly reset): URL, TLS, no proxy, no signals, the connect timeout.
  void prepare(CURL* handle, const std::string& url,
               std::chrono::milliseconds connect_timeout) const;
  /// The request headers of every call: a JSON body, no "Expect: 100-continue".
  curl_slist* headers() const noexcept { return headers_; }
  void count_request() noexcept { requests_sent_.fetch_add(1); }
  std::uint64_t requests_sent() const noexcept { return requests_sent_.load(); }

 private:
  struct Attempt;
  Attempt attempt(CURL* handle, std::size_t endpoint, std::string_view path,
                  const std::string& body, Clock::time_point deadline);
  void call_endpoints(std::string_view path, const json& body, Resend resend,
                      const Decoder& decode);
  /// Hands an answer to `decode`; false when another endpoint should have
  /// the call (this one cannot serve now: `failures` says why). Throws
  /// StoreError when etcd refused or the answer is not etcd's.
  bool accept(const Attempt& attempt, std::size_t index, std::string_view path, Resend resend,
              const Decoder& decode, std::vector<std::string>& failures);
  /// The answer's JSON; throws StoreError when etcd refused or the answer
  /// is not etcd's.
  json interpret(const Attempt& attempt, const std::string& endpoint, std::string_view path) const;
  CURL* borrow_handle();
  void return_handle(CURL* handle);

  ClientOptions options_;
  std::atomic<std::size_t> preferred_{0};
  std::atomic<std::uint64_t> requests_sent_{0};
  std::mutex pool_mutex_;
  std::vector<CURL*> idle_handles_;
  curl_slist* headers_ = nullptr;
};

/// curl_global_init, once per process.
void initialize_curl();

/// `text` on one line, cut to `limit` bytes with "..." (for messages).
std::string excerpt(std::string_view text, std::size_t limit = 200);

}  // namespace processpype::etcd::internal
