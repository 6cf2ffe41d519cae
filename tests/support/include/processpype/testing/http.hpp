#pragma once

// The HTTP client of the e2e tests, the cluster tests and the benchmarks:
// one libcurl easy handle (one keep-alive connection), bounded timeouts, no
// proxy, 127.0.0.1 only.

#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "processpype/testing/process.hpp"

namespace processpype::testing {

using json = nlohmann::json;

namespace internal {

/// Owns a libcurl easy handle (a CURL*, kept as void* so that this header
/// needs no curl.h): the connection that a client keeps alive.
class EasyHandle {
 public:
  /// std::runtime_error when libcurl cannot make one.
  EasyHandle();
  ~EasyHandle();
  EasyHandle(const EasyHandle&) = delete;
  EasyHandle& operator=(const EasyHandle&) = delete;

  void* get() const noexcept { return handle_; }

 private:
  void* handle_;
};

}  // namespace internal

struct HttpResponse {
  long status = 0;                             ///< 0 when the transfer failed
  std::string transport_error;                 ///< libcurl's message when it failed
  std::map<std::string, std::string> headers;  ///< names lowercased
  std::string body;
  json body_json;  ///< the parsed body, or discarded (is_discarded()) when not JSON
  double elapsed_ms = 0;

  bool is_json() const { return !body_json.is_discarded(); }
  /// The header value ("" when absent); `name` is case-insensitive.
  std::string header(const std::string& name) const;
  /// `body_json[key]` when the body is a JSON object holding it, else null.
  json field(const std::string& key) const;
  /// `body_json["detail"]` as a string ("" when absent).
  std::string detail() const;
  /// One line for failure messages.
  std::string describe() const;
};

class HttpClient {
 public:
  /// Requests go to http://127.0.0.1:<port><prefix><path>.
  explicit HttpClient(int port, std::string prefix = "", std::chrono::milliseconds timeout = 10s);
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResponse get(const std::string& path) { return request("GET", path); }
  HttpResponse del(const std::string& path) { return request("DELETE", path); }
  /// POST without a body.
  HttpResponse post(const std::string& path) { return request("POST", path); }
  /// POST `body` serialized as JSON.
  HttpResponse post(const std::string& path, const json& body) {
    return request("POST", path, body.dump());
  }
  HttpResponse put(const std::string& path, const json& body) {
    return request("PUT", path, body.dump());
  }
  /// POST the raw bytes of `body`.
  HttpResponse post_raw(const std::string& path, const std::string& body,
                        const std::string& content_type = "application/json") {
    return request("POST", path, body, {"Content-Type: " + content_type});
  }
  /// POST `body` with `Transfer-Encoding: chunked` (no Content-Length).
  HttpResponse post_chunked(const std::string& path, const std::string& body);

  /// Any method; `body` nullopt sends none. `headers` are "Name: value"
  /// lines; Content-Type defaults to application/json when a body is sent.
  HttpResponse request(const std::string& method, const std::string& path,
                       const std::optional<std::string>& body = std::nullopt,
                       const std::vector<std::string>& headers = {}, bool chunked = false);

  /// The full URL of `path` (prefix included).
  std::string url(const std::string& path) const;

  /// TCP connections opened so far (1 while keep-alive holds).
  long connections() const noexcept { return connections_; }

 private:
  internal::EasyHandle curl_;
  int port_;
  std::string prefix_;
  std::chrono::milliseconds timeout_;
  long connections_ = 0;
};

/// `response` when it is a 200; otherwise std::runtime_error naming `what`
/// and the response.
HttpResponse expect_ok(HttpResponse response, std::string_view what);

/// One request sent from its own thread and connection, e.g. a start that
/// blocks for seconds while the test keeps querying. The destructor joins.
class AsyncRequest {
 public:
  AsyncRequest(int port, std::string prefix, std::string method, std::string path,
               std::optional<std::string> body = std::nullopt);
  ~AsyncRequest();
  AsyncRequest(const AsyncRequest&) = delete;
  AsyncRequest& operator=(const AsyncRequest&) = delete;

  /// Whether the reply has arrived.
  bool done() const { return done_.load(); }
  /// Waits for the reply and returns it.
  const HttpResponse& response();
  /// When the request was sent and when its reply arrived.
  Clock::time_point sent_at() const { return sent_at_; }
  Clock::time_point finished_at() const { return finished_at_; }

 private:
  HttpResponse response_;
  std::atomic<bool> done_{false};
  Clock::time_point sent_at_;
  Clock::time_point finished_at_;
  std::thread thread_;
};

}  // namespace processpype::testing
