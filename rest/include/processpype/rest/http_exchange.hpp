#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace processpype::rest {

/// A response to send: status, content type, extra headers and body.
struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool close_connection = false;  ///< "Connection: close": nothing more is read
};

/// A response body sent in pieces, as it is produced (Server-Sent Events).
/// Thread-safe: any thread may write.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  /// Queues `chunk`; `on_written(true)` runs once it was handed to the
  /// socket, `on_written(false)` when the connection failed or closed.
  virtual void write(std::string chunk, std::function<void(bool written)> on_written) = 0;
  /// Ends the response (and the connection).
  virtual void close() = 0;
  /// Ends the connection at once, dropping what the client was not sent
  /// yet (a client too far behind: docs/supervision.md, "Events"). A stream
  /// that cannot just closes.
  virtual void abort() { close(); }
  /// `listener` runs once, on any thread, when the client closes the
  /// connection. A stream that cannot tell never runs it: its writer learns
  /// from the next write.
  virtual void on_client_gone(std::function<void()> listener) { (void)listener; }
};

/// One HTTP request in flight, seen without the HTTP library: the routing
/// table and its handlers work on this, so they run without a socket in
/// unit tests and fuzzers. Exactly one of respond() or stream() is called,
/// once, from any thread.
class HttpExchange {
 public:
  using Clock = std::chrono::steady_clock;

  virtual ~HttpExchange() = default;

  virtual std::string_view method() const = 0;
  /// The path without the query string, still percent-encoded.
  virtual std::string_view path() const = 0;
  /// The raw query string (without '?'), empty if none.
  virtual std::string_view query() const = 0;
  virtual std::string_view body() const = 0;
  /// The first value of request header `name` (case-insensitive).
  virtual std::optional<std::string_view> header(std::string_view name) const = 0;
  /// Every request header, in the order received (none by default).
  virtual std::vector<std::pair<std::string, std::string>> headers() const { return {}; }
  /// The client's address, `ip:port`.
  virtual std::string peer() const = 0;

  virtual void respond(HttpResponse response) = 0;
  /// Sends the status and headers of `head` now; the body follows through
  /// the stream.
  virtual std::shared_ptr<ResponseStream> stream(HttpResponse head) = 0;

  /// The route template that matched, for metrics and the access log
  /// (`/services/{name}/start`; `unmatched` when none did).
  const std::string& route() const noexcept { return route_; }
  void set_route(std::string route) { route_ = std::move(route); }
  /// The request's id (docs/operations.md, "Request ids"): taken from its
  /// `X-Request-Id` or made up by the Api, echoed in the response.
  const std::string& request_id() const noexcept { return request_id_; }
  void set_request_id(std::string id) { request_id_ = std::move(id); }
  Clock::time_point received_at() const noexcept { return received_at_; }

 private:
  std::string route_ = "unmatched";
  std::string request_id_;
  Clock::time_point received_at_ = Clock::now();
};

using ExchangePtr = std::shared_ptr<HttpExchange>;

/// An exchange made of plain values: what the gateway receives from other
/// nodes, what unit tests and fuzzers feed the Api. It records the response
/// (and what is written to a stream) and calls `on_response` once.
class RecordedExchange : public HttpExchange {
 public:
  struct Request {
    std::string method = "GET";
    std::string path = "/";
    std::string query;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string peer = "127.0.0.1:0";
  };

  explicit RecordedExchange(Request request,
                            std::function<void(const HttpResponse&)> on_response = {});

  std::string_view method() const override { return request_.method; }
  std::string_view path() const override { return request_.path; }
  std::string_view query() const override { return request_.query; }
  std::string_view body() const override { return request_.body; }
  std::optional<std::string_view> header(std::string_view name) const override;
  std::vector<std::pair<std::string, std::string>> headers() const override {
    return request_.headers;
  }
  std::string peer() const override { return request_.peer; }

  void respond(HttpResponse response) override;
  std::shared_ptr<ResponseStream> stream(HttpResponse head) override;

  /// The response, once there is one.
  std::optional<HttpResponse> response() const;
  /// What was written to a stream so far.
  std::string streamed() const;

  struct State;

 private:
  Request request_;
  std::function<void(const HttpResponse&)> on_response_;
  std::shared_ptr<State> state_;
};

}  // namespace processpype::rest
