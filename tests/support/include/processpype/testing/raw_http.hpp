#pragma once

// A raw TCP client for what libcurl will not send: malformed HTTP, oversized
// request lines and headers, half requests, idle connections, pipelined
// requests, many long-lived streams. Bytes go out exactly as given; every
// read is bounded by a timeout. 127.0.0.1 only.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "processpype/testing/process.hpp"

namespace processpype::testing {

/// One HTTP response as read off a raw connection.
struct RawResponse {
  int status = 0;    ///< 0 when no complete status line and headers arrived
  std::string head;  ///< status line and headers, as sent
  std::map<std::string, std::string> headers;  ///< names lowercased
  std::string body;                            ///< de-chunked when chunked
  nlohmann::json body_json = nlohmann::json(nlohmann::json::value_t::discarded);
  bool complete = false;  ///< the whole body arrived (Content-Length, chunks or close)

  std::string header(const std::string& name) const;
  bool is_json() const { return !body_json.is_discarded(); }
  /// `body_json["detail"]` as a string ("" when absent).
  std::string detail() const;
  /// One line for failure messages.
  std::string describe() const;
};

class RawConnection {
 public:
  /// Connects to 127.0.0.1:`port` (TCP_NODELAY); std::runtime_error when it
  /// cannot within `timeout`. A connection the server has not accepted yet
  /// (backlog) still connects.
  explicit RawConnection(int port, std::chrono::milliseconds timeout = 5s);
  ~RawConnection();
  RawConnection(RawConnection&& other) noexcept;
  RawConnection& operator=(RawConnection&& other) noexcept;
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  /// Sends all of `bytes`; false when the connection is broken (no SIGPIPE).
  bool send(std::string_view bytes);
  /// Sends `bytes` in pieces of `piece` bytes with `pause` between them, so
  /// that the server reads them separately; false when broken.
  bool send_slowly(std::string_view bytes, std::size_t piece, std::chrono::milliseconds pause);

  /// Reads one response: status line, headers, then the body by
  /// Content-Length, chunks or until the server closes. Bytes after it stay
  /// buffered for the next call. status 0 when nothing whole came in time.
  RawResponse read_response(std::chrono::milliseconds timeout = 10s);
  /// Reads only the status line and headers (e.g. of an event stream);
  /// what follows stays buffered for read_until.
  RawResponse read_head(std::chrono::milliseconds timeout = 10s);
  /// Reads until `text` was received (after what earlier reads consumed);
  /// consumes up to its end. Whether it came in time.
  bool read_until(std::string_view text, std::chrono::milliseconds timeout);

  /// Whether the server closed (EOF or reset) within `timeout`; data that
  /// arrives meanwhile is buffered.
  bool wait_closed(std::chrono::milliseconds timeout);
  /// Whether the server has closed the connection (looks without waiting).
  bool closed();
  /// Everything received and not consumed yet.
  const std::string& buffered() const { return buffer_; }

  void close();
  int fd() const { return fd_; }

 private:
  /// Reads what is available within `deadline` into buffer_; false on
  /// timeout, EOF or error (eof_ is then set for the latter two).
  bool fill(Clock::time_point deadline);

  int fd_ = -1;
  bool eof_ = false;
  std::string buffer_;
};

/// Connections to 127.0.0.1:`port` that the kernel has completed and the
/// server has not accepted yet (the listening socket's accept queue, from
/// /proc/net/tcp); nullopt when nothing listens there. A server that holds
/// its connection limit leaves new clients here: 0 after a connect means
/// the server took that connection.
std::optional<int> accept_queue_length(int port);

/// "GET <target> HTTP/1.1" with Host and `extra_headers` ("Name: value\r\n"
/// lines, each ending in CRLF), and Connection: close when `close`.
std::string raw_get(const std::string& target, const std::string& extra_headers = "",
                    bool close = false);

/// A request with a body and its Content-Length.
std::string raw_request(const std::string& method, const std::string& target,
                        const std::string& body, const std::string& extra_headers = "",
                        bool close = false);

/// The same request with `Transfer-Encoding: chunked`, the body cut into
/// chunks of `chunk` bytes.
std::string raw_chunked_request(const std::string& method, const std::string& target,
                                const std::string& body, std::size_t chunk = 256,
                                const std::string& extra_headers = "", bool close = false);

}  // namespace processpype::testing
