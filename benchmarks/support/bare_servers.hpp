// The physical limits the REST figures are compared with: bare RESTinio
// servers in the benchmark's own process, with RESTinio's default traits
// (or its TLS traits), as many I/O threads as the real server and nothing
// of ProcessPype on the path. A figure divided by its bare counterpart is
// the share of the cost that is ours (docs/performance.md).
//
// Loopback only; start() and the destructors are bounded.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace processpype::benchmark {

/// The body of GET /services/{name} of a running echo instance: what the
/// bare handlers answer, so that both sides write the same bytes.
inline constexpr std::string_view status_body =
    R"({"error":null,"health":null,"is_configured":false,"metadata":{},)"
    R"("next_restart_in_seconds":null,"restarts":0,"state":"running"})";

/// The certificate and key of a bare HTTPS server (PEM files).
struct BareTls {
  std::string certificate;
  std::string key;
};

/// A bare RESTinio handler: every request is answered status_body at once,
/// on its I/O thread. With `tls`, over TLS with the same certificate and the
/// same protocol floor (TLS 1.2) as the processpype binary's HTTPS.
class BareServer {
 public:
  explicit BareServer(std::uint16_t port, std::optional<BareTls> tls = std::nullopt);
  ~BareServer();
  BareServer(const BareServer&) = delete;
  BareServer& operator=(const BareServer&) = delete;

  /// Serves on its own threads; throws when the port cannot be bound.
  void start();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The cost of fan-out alone: a bare RESTinio server that keeps every
/// `GET /events` open as a chunked response, and answers every other
/// request after writing `events_per_request` Server-Sent Events of the
/// processpype binary's size to each open response, one chunk and one
/// flush per event and response (no batching). A POST to
/// `.../<name>/start` or `.../<name>/stop` is answered the body a
/// transition answers (`{"status":...,"service":"<name>"}`), so the wrk
/// script of the start/stop cycle runs against it unchanged.
class BareFanOut {
 public:
  BareFanOut(std::uint16_t port, int events_per_request);
  ~BareFanOut();
  BareFanOut(const BareFanOut&) = delete;
  BareFanOut& operator=(const BareFanOut&) = delete;

  void start();
  /// Responses open now (followers connected).
  std::size_t open_streams() const;
  /// Ends every open response (the followers see the end of their stream).
  void close_streams();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// "TLSv1.3 TLS_AES_256_GCM_SHA384": what a client negotiates with the
/// HTTPS server on 127.0.0.1:`port` (`openssl s_client`); "unknown" when
/// it cannot tell.
std::string negotiated_cipher(int port);

}  // namespace processpype::benchmark
