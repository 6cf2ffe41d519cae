#pragma once

// The one door to RESTinio: the rest of the library sees HTTP through
// HttpExchange and the two types below, never RESTinio itself. Every use of
// RESTinio's internals (`restinio::impl`) and every place where ProcessPype
// replaces RESTinio 0.6's behaviour lives in restinio_adapter.cpp, each with
// a comment saying which upstream behaviour it replaces and why; a
// static_assert there stops the build on another RESTinio version, whose
// internals these patches would silently miss.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "processpype/rest/http_exchange.hpp"
#include "processpype/rest/server.hpp"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace processpype::rest {

/// What an HTTP listener serves on, and how.
struct ListenerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8000;
  std::size_t threads = 2;
  ServerLimits limits;
  /// Set for HTTPS: prepares the OpenSSL context before the first
  /// handshake (TlsMaterial::install).
  std::function<void(ssl_ctx_st*)> prepare_tls;
};

/// Called on a listener thread with every request that kept within the
/// limits (the others go to the RefusalHandler); it must not block, and
/// answers through the exchange, from any thread.
using RequestHandler = std::function<void(const ExchangePtr&)>;

/// Called on a listener thread with each request the listener refuses
/// itself, never routed (413, 414 or 431 over a limit, 400 for bytes it
/// cannot parse, 431 over the parser's own header limit), and the response
/// that refuses it: it answers with that response before it returns, adding
/// what every response carries (the Api's request id, metrics and access
/// log: docs/operations.md). Little may be known of such a request: a URL
/// over the limit keeps neither path nor headers, and malformed HTTP whose
/// request line could not be read has the method "unknown".
using RefusalHandler = std::function<void(const ExchangePtr&, HttpResponse)>;

/// A RESTinio server, plain or TLS, with ProcessPype's limits
/// (rest::Server's documentation says what a client observes).
class HttpListener {
 public:
  virtual ~HttpListener() = default;
  /// Binds and serves on its own threads. Throws std::runtime_error when
  /// the address cannot be bound.
  virtual void start() = 0;
  /// Ends every open response stream, stops serving and destroys the open
  /// connections. Call it once, after start().
  virtual void stop() = 0;
};

std::unique_ptr<HttpListener> make_http_listener(ListenerOptions options, RequestHandler handler,
                                                 RefusalHandler refusals = {});

/// Reads the requests in the bytes of one connection exactly as a
/// listener's connections do (the same parser, callbacks and limits), with
/// no socket: the HTTP fuzzer feeds raw bytes through it.
class RequestReader {
 public:
  /// A request over a limit: answered with `status` and `detail`, never
  /// routed; with `close` the connection ends after the answer.
  struct Refusal {
    int status = 0;
    std::string detail;
    bool close = false;
  };

  struct Request {
    std::string method;
    std::string target;  ///< as sent: path and query
    std::string path;
    std::string query;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    bool keep_alive = true;
    bool upgrade = false;
    std::optional<Refusal> refusal;
  };

  /// `refusals` answers malformed bytes, as a listener's does.
  explicit RequestReader(const ServerLimits& limits, RefusalHandler refusals = {});
  ~RequestReader();
  RequestReader(const RequestReader&) = delete;
  RequestReader& operator=(const RequestReader&) = delete;

  /// Parses from the front of `bytes`, removing what it used: a whole
  /// request, or nullopt when it needs more bytes or the bytes are
  /// malformed (then malformed_reply() is set and nothing more is read).
  std::optional<Request> read(std::string_view& bytes);
  /// The raw reply a listener writes to malformed bytes before it closes.
  const std::optional<std::string>& malformed_reply() const noexcept;
  /// Starts on the connection's next request, as a listener does once it
  /// answered one.
  void next();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace processpype::rest
