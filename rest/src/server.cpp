#include "processpype/rest/server.hpp"

#include <future>
#include <mutex>
#include <unordered_map>

#include "http_parsing.hpp"  // before restinio/tls.hpp, which needs restinio/all.hpp

#include <restinio/tls.hpp>

#include "processpype/actors/runtime.hpp"
#include "processpype/rest/json_mapping.hpp"
#include "processpype/runtime/durations.hpp"
#include "tls_material.hpp"

namespace processpype::rest {

/// The server's open response streams by connection, told by RESTinio when
/// a connection closes (defined below).
class OpenStreams;

/// The traits of the plain HTTP server: the parser callbacks of
/// http_parsing.hpp, a limit on open connections, and streams that learn
/// when their client leaves.
struct ServerTraits : restinio::default_traits_t {
  using http_methods_mapper_t = LimitedHttpMethods;
  using connection_state_listener_t = OpenStreams;
  static constexpr bool use_connection_count_limiter = true;
};

/// The traits of the HTTPS server: as ServerTraits, over TLS.
struct TlsServerTraits
    : restinio::tls_traits_t<restinio::asio_timer_manager_t, restinio::null_logger_t> {
  using http_methods_mapper_t = LimitedHttpMethods;
  using connection_state_listener_t = OpenStreams;
  static constexpr bool use_connection_count_limiter = true;
};

namespace {

/// How long a TLS handshake may take: RESTinio starts its read timeout only
/// once the handshake is done, so a client that connects and sends nothing
/// would hold its connection slot forever.
std::atomic<std::int64_t> handshake_timeout_ms{10'000};

}  // namespace

}  // namespace processpype::rest

PROCESSPYPE_ANSWER_MALFORMED_REQUESTS(processpype::rest::ServerTraits)
PROCESSPYPE_ANSWER_MALFORMED_REQUESTS(processpype::rest::TlsServerTraits)

namespace restinio::impl {

/// The TLS connection's start: the handshake, bounded by the read timeout
/// (found by ADL; more specialized than RESTinio's own).
template <typename Start_Read_CB, typename Failed_CB>
void prepare_connection_and_start_read(tls_socket_t& socket,
                                       connection_t<processpype::rest::TlsServerTraits>& connection,
                                       Start_Read_CB start_read, Failed_CB failed) {
  auto timer = std::make_shared<asio_ns::steady_timer>(socket.get_executor());
  timer->expires_after(std::chrono::milliseconds(processpype::rest::handshake_timeout_ms.load()));
  timer->async_wait([&socket, keep = connection.shared_from_this()](const asio_ns::error_code& ec) {
    if (!ec) socket.lowest_layer().close();  // the handshake below fails and ends the connection
  });
  socket.async_handshake(asio_ns::ssl::stream_base::server,
                         [start_read = std::move(start_read), failed = std::move(failed), timer,
                          keep = connection.shared_from_this()](const asio_ns::error_code& ec) {
                           timer->cancel();
                           if (!ec)
                             start_read();
                           else
                             failed(ec);
                         });
}

}  // namespace restinio::impl

namespace processpype::rest {

namespace {

const char* reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 422:
      return "Unprocessable Entity";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return status < 400 ? "OK" : "Error";
  }
}

restinio::http_status_line_t status_line(int status) {
  return restinio::http_status_line_t{
      restinio::http_status_code_t{static_cast<std::uint16_t>(status)}, reason_phrase(status)};
}

template <class Builder>
void add_headers(Builder& builder, const HttpResponse& response) {
  builder.append_header(restinio::http_field::content_type, response.content_type);
  for (const auto& [name, value] : response.headers) builder.append_header(name, value);
}

}  // namespace

/// A response body written in pieces; RESTinio's builder is not thread-safe,
/// writers may come from any thread. The server closes every stream before
/// it stops: a stream must not touch RESTinio once it is gone.
class RestinioStream final : public ResponseStream {
 public:
  explicit RestinioStream(restinio::response_builder_t<restinio::chunked_output_t> builder)
      : builder_(std::move(builder)) {}

  void write(std::string chunk, std::function<void(bool)> on_written) override {
    std::lock_guard lock{mutex_};
    if (closed_) {
      if (on_written) on_written(false);
      return;
    }
    builder_.append_chunk(std::move(chunk));
    builder_.flush([on_written = std::move(on_written)](const restinio::asio_ns::error_code& ec) {
      if (on_written) on_written(!ec);
    });
  }

  void close() override {
    std::lock_guard lock{mutex_};
    if (std::exchange(closed_, true)) return;
    builder_.done();
  }

  void on_client_gone(std::function<void()> listener) override {
    std::unique_lock lock{mutex_};
    if (!gone_) {
      on_gone_ = std::move(listener);
      return;
    }
    lock.unlock();
    listener();
  }

  /// The connection closed: nothing more is written, the listener runs.
  void client_gone() {
    std::function<void()> listener;
    {
      std::lock_guard lock{mutex_};
      closed_ = true;
      gone_ = true;
      listener = std::move(on_gone_);
    }
    if (listener) listener();
  }

 private:
  std::mutex mutex_;
  restinio::response_builder_t<restinio::chunked_output_t> builder_;
  bool closed_ = false;
  bool gone_ = false;
  std::function<void()> on_gone_;
};

/// The streams a server has open, by connection: RESTinio tells it when a
/// connection closes (its connection state listener), so that a stream's
/// writer learns at once that its client left, and the server closes the
/// rest before it stops.
class OpenStreams {
 public:
  void add(restinio::connection_id_t connection, const std::shared_ptr<RestinioStream>& stream) {
    std::lock_guard lock{mutex_};
    streams_[connection] = stream;
  }

  void state_changed(const restinio::connection_state::notice_t& notice) noexcept {
    if (!restinio::holds_alternative<restinio::connection_state::closed_t>(notice.cause())) return;
    std::shared_ptr<RestinioStream> stream;
    {
      std::lock_guard lock{mutex_};
      auto found = streams_.find(notice.connection_id());
      if (found == streams_.end()) return;
      stream = found->second.lock();
      streams_.erase(found);
    }
    if (stream) stream->client_gone();
  }

  void close_all() {
    std::unordered_map<restinio::connection_id_t, std::weak_ptr<RestinioStream>> streams;
    {
      std::lock_guard lock{mutex_};
      streams.swap(streams_);
    }
    for (const auto& [connection, weak] : streams)
      if (auto stream = weak.lock()) stream->close();
  }

 private:
  std::mutex mutex_;
  std::unordered_map<restinio::connection_id_t, std::weak_ptr<RestinioStream>> streams_;
};

namespace {

/// The io_context of the listener whose request handler runs on this thread,
/// null outside a handler. RESTinio 0.6 loses pipelined requests when a
/// response is written before the handler returns: both the end of that
/// write and the handler's return start reading the next request. A response
/// written from inside the handler is therefore posted to run after it.
thread_local restinio::asio_ns::io_context* running_handler = nullptr;

/// Marks this thread as running a request handler of `context`.
class HandlerScope {
 public:
  explicit HandlerScope(restinio::asio_ns::io_context& context) { running_handler = &context; }
  ~HandlerScope() { running_handler = nullptr; }
  HandlerScope(const HandlerScope&) = delete;
  HandlerScope& operator=(const HandlerScope&) = delete;
};

/// An HttpExchange over a RESTinio request; respond() may run on any thread.
class RestinioExchange final : public HttpExchange {
 public:
  RestinioExchange(restinio::request_handle_t request, OpenStreams* streams = nullptr)
      : request_(std::move(request)), streams_(streams) {}

  std::string_view method() const override { return request_->header().method().c_str(); }
  std::string_view path() const override {
    auto path = request_->header().path();
    return {path.data(), path.size()};
  }
  std::string_view query() const override {
    auto query = request_->header().query();
    return {query.data(), query.size()};
  }
  std::string_view body() const override { return request_->body(); }
  std::optional<std::string_view> header(std::string_view name) const override {
    auto value = request_->header().opt_value_of(restinio::string_view_t{name.data(), name.size()});
    if (!value) return std::nullopt;
    return std::string_view{value->data(), value->size()};
  }
  std::string peer() const override {
    const auto& endpoint = request_->remote_endpoint();
    return endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  }

  void respond(HttpResponse response) override {
    auto builder = request_->create_response(status_line(response.status));
    add_headers(builder, response);
    if (response.close_connection) builder.connection_close();
    builder.set_body(std::move(response.body));
    if (running_handler == nullptr) {
      builder.done();
      return;
    }
    // defer, not post: a continuation of this handler stays on this thread
    // (Asio's thread-private queue) instead of waking the other I/O thread.
    restinio::asio_ns::defer(running_handler->get_executor(),
                             [builder = std::move(builder)]() mutable { builder.done(); });
  }

  std::shared_ptr<ResponseStream> stream(HttpResponse head) override {
    auto builder = request_->create_response<restinio::chunked_output_t>(status_line(head.status));
    add_headers(builder, head);
    builder.flush();
    auto stream = std::make_shared<RestinioStream>(std::move(builder));
    if (streams_) streams_->add(request_->connection_id(), stream);
    return stream;
  }

 private:
  restinio::request_handle_t request_;
  OpenStreams* streams_;
};

/// One RESTinio server, plain or TLS.
class Listener {
 public:
  virtual ~Listener() = default;
  virtual void start() = 0;
  virtual void stop() = 0;
  virtual restinio::asio_ns::io_context& io_context() = 0;
};

/// An io_context whose handlers can be destroyed before it is.
class IoContext : public restinio::asio_ns::io_context {
 public:
  /// Destroys every pending handler (with the connections they hold).
  using restinio::asio_ns::io_context::shutdown;
};

template <class Traits>
class RestinioListener final : public Listener {
 public:
  template <class Configure>
  RestinioListener(std::size_t threads, Configure configure)
      : http_(restinio::external_io_context(io_), configure), runner_(threads, http_) {}

  void start() override {
    std::promise<void> started;
    auto result = started.get_future();
    runner_.start(
        [&started]() noexcept { started.set_value(); },
        [&started](std::exception_ptr error) noexcept { started.set_exception(std::move(error)); });
    result.get();
  }
  void stop() override {
    runner_.stop();
    runner_.wait();
    // Connections still open wait in handlers of the io_context; destroyed
    // with it, after RESTinio's acceptor, each would update the acceptor's
    // connection count after it was freed (RESTinio 0.6). Destroyed now,
    // while the acceptor lives.
    io_.shutdown();
  }
  restinio::asio_ns::io_context& io_context() override { return io_; }

 private:
  IoContext io_;  // first: outlives the server and its runner
  restinio::http_server_t<Traits> http_;
  restinio::on_pool_runner_t<restinio::http_server_t<Traits>> runner_;
};

}  // namespace

void check_tls_files(const TlsFiles& files) {
  TlsMaterial{files};
}

struct Server::Impl {
  Impl(Runtime& runtime, ServerOptions server_options)
      : options(std::move(server_options)),
        limits(parsing::message_limits(options.limits.max_body_bytes,
                                       options.limits.max_header_bytes,
                                       options.limits.max_url_bytes)),
        api(runtime, [&] {
          auto api_options = options.api;
          api_options.max_event_streams = options.limits.max_event_streams;
          return api_options;
        }()) {
    runtime.set_gateway(api.gateway());
    if (options.tls.enabled()) {
      tls = std::make_unique<TlsMaterial>(options.tls);
      handshake_timeout_ms =
          to_duration<std::chrono::milliseconds>(options.limits.read_timeout_seconds).count();
      auto context = std::make_shared<restinio::asio_ns::ssl::context>(
          restinio::asio_ns::ssl::context::tls_server);
      tls->install(context->native_handle());
      listener = std::make_unique<RestinioListener<TlsServerTraits>>(
          options.threads, [&](auto& settings) { configure(settings).tls_context(context); });
    } else {
      listener = std::make_unique<RestinioListener<ServerTraits>>(
          options.threads, [&](auto& settings) { configure(settings); });
    }
  }

  template <class Settings>
  Settings& configure(Settings& settings) {
    auto read_timeout =
        to_duration<std::chrono::steady_clock::duration>(options.limits.read_timeout_seconds);
    return settings.address(options.host)
        .port(options.port)
        .incoming_http_msg_limits(limits)
        .max_parallel_connections(options.limits.max_connections)
        .connection_state_listener(streams)
        // Two: RESTinio reads on while one response is in flight, so that
        // a client that closes an event stream is noticed at once (with one,
        // it reads nothing until the stream ends).
        .max_pipelined_requests(2)
        .read_next_http_message_timelimit(read_timeout)
        // A start or stop answers when the transition ends, which the
        // service bounds with its own timeouts; streams last long.
        .handle_request_timeout(std::chrono::hours(24 * 365))
        .request_handler(
            [this](restinio::request_handle_t request) { return handle(std::move(request)); });
  }

  restinio::request_handling_status_t handle(restinio::request_handle_t request) {
    HandlerScope scope{listener->io_context()};
    auto& header = const_cast<restinio::http_request_header_t&>(request->header());
    if (auto refusal = parsing::take_refusal(header, limits)) {
      RestinioExchange{std::move(request)}.respond(HttpResponse{
          refusal->status, "application/json", {}, error_body(refusal->detail), refusal->close});
    } else {
      api.handle(std::make_shared<RestinioExchange>(std::move(request), streams.get()));
    }
    return restinio::request_accepted();
  }

  ServerOptions options;
  std::shared_ptr<OpenStreams> streams = std::make_shared<OpenStreams>();
  restinio::incoming_http_msg_limits_t limits;
  std::unique_ptr<TlsMaterial> tls;
  Api api;
  std::unique_ptr<Listener> listener;
  bool running = false;
};

Server::Server(Runtime& runtime, ServerOptions options)
    : impl_(std::make_unique<Impl>(runtime, std::move(options))) {}

Server::~Server() {
  stop();
}

void Server::start() {
  try {
    impl_->listener->start();
  } catch (const std::exception& error) {
    throw std::runtime_error("Cannot serve HTTP on " + impl_->options.host + ":" +
                             std::to_string(impl_->options.port) + ": " + error.what());
  }
  impl_->running = true;
}

void Server::stop() {
  if (!std::exchange(impl_->running, false)) return;
  impl_->streams->close_all();  // while RESTinio still runs
  impl_->listener->stop();
}

void Server::reload_tls(const TlsFiles& files) {
  if (impl_->tls) impl_->tls->reload(files);
}

Api& Server::api() noexcept {
  return impl_->api;
}

}  // namespace processpype::rest
