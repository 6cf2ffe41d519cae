#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "processpype/rest/api.hpp"
#include "processpype/rest/tls.hpp"

namespace processpype {
class Runtime;
}

namespace processpype::rest {

/// What one HTTP request and one client may cost the server
/// (docs/configuration.md, `server.limits`).
struct ServerLimits {
  std::size_t max_body_bytes = 1024 * 1024;
  std::size_t max_header_bytes = 64 * 1024;
  std::size_t max_url_bytes = 8192;
  std::size_t max_connections = 1024;
  /// A client that has not sent a whole request (or finished its TLS
  /// handshake) by then is disconnected.
  double read_timeout_seconds = 10.0;
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8000;
  /// RESTinio's own I/O threads; they parse, route and answer reads, and
  /// never wait.
  std::size_t threads = 2;
  ApiOptions api;
  ServerLimits limits;
  /// HTTPS when a certificate is set.
  TlsFiles tls;
};

/// The HTTP server (RESTinio) serving the Api of one node
/// (docs/architecture.md), with the limits of docs/configuration.md: bodies,
/// headers and URLs over their limits are answered 413, 431 and 414 and
/// never buffered past them; malformed HTTP is answered 400; at most
/// `max_connections` connections are served at once (more wait to be
/// accepted); a client that has not sent a whole request (or finished its
/// TLS handshake) within `read_timeout_seconds` is disconnected.
class Server {
 public:
  /// Lets other nodes reach this node's API (Runtime::set_gateway). Throws
  /// TlsError when the TLS files cannot be loaded.
  Server(Runtime& runtime, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds and starts serving on the server's own threads. Throws
  /// std::runtime_error when the address cannot be bound.
  void start();
  /// Stops accepting and closes connections; idempotent.
  void stop();

  /// Loads new TLS files for new connections (SIGHUP); the old ones stay
  /// in force when the new ones cannot be used (TlsError).
  void reload_tls(const TlsFiles& files);

  Api& api() noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace processpype::rest
