#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <caf/all.hpp>

#include "processpype/rest/api.hpp"

namespace processpype::rest {

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8000;
  std::string api_prefix;
  std::string version;
  /// RESTinio's own I/O threads; they only parse and route, never wait.
  std::size_t threads = 1;
};

/// The HTTP server (RESTinio) serving the Api of one node. Bodies over
/// 1 MiB, plain or chunked, are answered 413 and never buffered past the
/// limit; keep-alive is on.
class Server {
 public:
  Server(caf::actor_system& system, ApiTargets targets, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds and starts serving on the server's own threads. Throws
  /// std::runtime_error when the address cannot be bound.
  void start();
  /// Stops accepting and closes connections; idempotent.
  void stop();

  Api& api() noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace processpype::rest
