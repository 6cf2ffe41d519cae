#pragma once

// The HTTP side of `processpype ctl`: one libcurl easy handle (one
// keep-alive connection) to one node's REST API, with the bearer token, the
// `/nodes/{id}` prefix and bounded timeouts (docs/cli.md, "Global flags").

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace processpype::ctl {

/// Where requests go and as whom.
struct Connection {
  /// Base URL, api_prefix included, without a trailing '/'.
  std::string url = "http://127.0.0.1:8000";
  /// Sent as `Authorization: Bearer <token>`; none when empty.
  std::string token;
  /// Every request goes under `/nodes/<node>` when set (another node of the
  /// cluster, reached through the node at `url`).
  std::string node;
  /// PEM file of the CA that signs an HTTPS server's certificate; the
  /// system's CAs when empty.
  std::string ca_file;
  /// The longest a request may take, connection included.
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};
};

struct Request {
  std::string method = "GET";
  std::string path;  ///< under the API prefix, query included: "/services?state=error"
  std::optional<std::string> body;   ///< sent as application/json
  std::vector<std::string> headers;  ///< extra "Name: value" lines
  /// Overrides Connection::node for this request ("": the node at the URL).
  std::optional<std::string> node;
  /// Overrides Connection::timeout for this request.
  std::optional<std::chrono::milliseconds> timeout;
};

struct Response {
  long status = 0;
  std::string body;

  bool success() const noexcept { return status >= 200 && status < 300; }
  /// The body as JSON; Refusal (exit code 1) when it is not JSON.
  nlohmann::json json() const;
  /// What the server said was wrong: its `detail`, else the body, else
  /// "HTTP <status>".
  std::string detail() const;
};

/// How a stream ended (HttpClient::stream).
struct StreamEnd {
  /// The status and, unless it was 2xx, the body; 0 when no response came.
  Response response;
  /// Why the transfer failed (connection refused, reset, stalled...); empty
  /// when the server ended the stream or on_data stopped it.
  std::string transport_error;
};

class HttpClient {
 public:
  /// UsageError when the URL is not http:// or https://, or holds a query
  /// or a fragment.
  explicit HttpClient(Connection connection);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  /// Sends `request` and returns the response, whatever its status;
  /// Unreachable when none came (refused, timed out, unknown host).
  Response send(const Request& request);

  /// send(), and Refusal with the server's detail unless the status is 2xx.
  Response send_expecting_success(const Request& request);

  /// Sends `request` and reads its body as it arrives, without an overall
  /// time limit: `on_open(status)` once the response's headers are in, then
  /// `on_data(bytes)` for every piece of a 2xx body (returning false ends the
  /// stream). A connection that stays silent for `stall_timeout` is dropped.
  /// Returns when the stream ends, however it ends.
  StreamEnd stream(const Request& request, std::chrono::seconds stall_timeout,
                   const std::function<void(long status)>& on_open,
                   const std::function<bool(std::string_view bytes)>& on_data);

  /// The URL `request` goes to.
  std::string url_of(const Request& request) const;

  const Connection& connection() const noexcept { return connection_; }

 private:
  void prepare(const Request& request, std::vector<std::string>& header_lines);

  Connection connection_;
  void* curl_;  // CURL*
};

/// Percent-encodes `text` for a path segment (every byte outside
/// [A-Za-z0-9_.~-]).
std::string percent_encode(std::string_view text);

}  // namespace processpype::ctl
