#include "bare_servers.hpp"

#include <openssl/ssl.h>

#include <atomic>
#include <future>
#include <mutex>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>
#include <processpype/testing/process.hpp>
#include <restinio/all.hpp>
#include <restinio/tls.hpp>

namespace processpype::benchmark {

// The parts of the Impls below: not in an anonymous namespace, which the
// Impls' members may not use.
namespace bare {

/// The I/O threads of the processpype binary's HTTP server
/// (rest::ServerOptions::threads).
constexpr std::size_t io_threads = 2;

/// A RESTinio server with its own io_context and a pool of I/O threads,
/// started and stopped as the real server's listener is.
template <class Traits>
class Running {
 public:
  using Server = restinio::http_server_t<Traits>;

  template <class Configure>
  explicit Running(Configure configure)
      : http_(restinio::own_io_context(), std::move(configure)), runner_(io_threads, http_) {}

  ~Running() {
    runner_.stop();
    runner_.wait();
  }

  Running(const Running&) = delete;
  Running& operator=(const Running&) = delete;

  void start() {
    std::promise<void> started;
    auto result = started.get_future();
    runner_.start(
        [&started]() noexcept { started.set_value(); },
        [&started](std::exception_ptr error) noexcept { started.set_exception(std::move(error)); });
    result.get();
  }

 private:
  Server http_;
  restinio::on_pool_runner_t<Server> runner_;
};

restinio::request_handling_status_t answer_status(const restinio::request_handle_t& request) {
  request->create_response()
      .append_header(restinio::http_field::content_type, "application/json")
      .set_body(std::string{status_body})
      .done();
  return restinio::request_accepted();
}

/// As the processpype binary's listener: TCP_NODELAY on every connection.
template <class Settings>
void listen_on(Settings& settings, std::uint16_t port) {
  settings.address("127.0.0.1")
      .port(port)
      .socket_options_setter([](restinio::socket_options_t& socket) {
        socket.set_option(restinio::asio_ns::ip::tcp::no_delay(true));
      })
      .request_handler([](restinio::request_handle_t request) { return answer_status(request); });
}

/// An OpenSSL context as the processpype binary's HTTPS prepares one
/// (rest/src/tls_material.cpp): Asio's TLS server method, TLS 1.2 at
/// least, the certificate chain and the key; OpenSSL's defaults otherwise.
std::shared_ptr<restinio::asio_ns::ssl::context> tls_context(const BareTls& tls) {
  auto context = std::make_shared<restinio::asio_ns::ssl::context>(
      restinio::asio_ns::ssl::context::tls_server);
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
  context->use_certificate_chain_file(tls.certificate);
  context->use_private_key_file(tls.key, restinio::asio_ns::ssl::context::pem);
  return context;
}

}  // namespace bare

using namespace bare;

// -- BareServer --------------------------------------------------------------------------

struct BareServer::Impl {
  std::unique_ptr<Running<restinio::default_traits_t>> plain;
  std::unique_ptr<Running<restinio::default_tls_traits_t>> tls;
};

BareServer::BareServer(std::uint16_t port, std::optional<BareTls> tls)
    : impl_(std::make_unique<Impl>()) {
  if (!tls) {
    impl_->plain = std::make_unique<Running<restinio::default_traits_t>>(
        [port](auto& settings) { listen_on(settings, port); });
    return;
  }
  auto context = tls_context(*tls);
  impl_->tls =
      std::make_unique<Running<restinio::default_tls_traits_t>>([port, context](auto& settings) {
        listen_on(settings, port);
        settings.tls_context(context);
      });
}

BareServer::~BareServer() = default;

void BareServer::start() {
  if (impl_->plain)
    impl_->plain->start();
  else
    impl_->tls->start();
}

// -- BareFanOut --------------------------------------------------------------------------

namespace bare {

/// One open chunked response, with one write in flight at a time: what
/// comes meanwhile waits and goes with the next write. (Flushing every
/// event on its own, RESTinio 0.6 queues each flush as a write group of
/// its own and moves the whole queue on every append: with readers a
/// little behind, the server spent its time copying its queue and served
/// ~1,000 requests/s.) RESTinio's builder is not thread-safe and both I/O
/// threads write to it.
class OpenStream : public std::enable_shared_from_this<OpenStream> {
 public:
  explicit OpenStream(restinio::response_builder_t<restinio::chunked_output_t> response)
      : builder_(std::move(response)) {}

  void write(const std::string& text) {
    std::lock_guard lock{mutex_};
    if (closed_) return;
    if (writing_) {
      waiting_ += text;
      return;
    }
    send(std::string{text});
  }

  void close() {
    std::lock_guard lock{mutex_};
    if (std::exchange(closed_, true)) return;
    builder_.done();
  }

  /// The status line and headers, at once.
  void send_head() {
    std::lock_guard lock{mutex_};
    send({});
  }

 private:
  /// Hands `chunk` (none: only what the builder holds) to the connection;
  /// the next write waits until it is written.
  void send(std::string chunk) {
    writing_ = true;
    if (!chunk.empty()) builder_.append_chunk(std::move(chunk));
    builder_.flush([self = shared_from_this()](const restinio::asio_ns::error_code& error) {
      self->written(!error);
    });
  }

  void written(bool ok) {
    std::lock_guard lock{mutex_};
    writing_ = false;
    if (!ok) closed_ = true;
    if (closed_ || waiting_.empty()) return;
    send(std::exchange(waiting_, {}));
  }

  std::mutex mutex_;
  restinio::response_builder_t<restinio::chunked_output_t> builder_;
  std::string waiting_;
  bool writing_ = false;
  bool closed_ = false;
};

/// `name` of a path ending in `/<name>/start` or `/<name>/stop`.
std::string_view instance_of(std::string_view path, std::string_view& operation) {
  auto last = path.rfind('/');
  if (last == std::string_view::npos || last == 0) return {};
  operation = path.substr(last + 1);
  auto before = path.rfind('/', last - 1);
  return path.substr(before + 1, last - before - 1);
}

}  // namespace bare

struct BareFanOut::Impl {
  explicit Impl(int events) : events_per_request(events) {}

  restinio::request_handling_status_t handle(const restinio::request_handle_t& request) {
    auto path = request->header().path();
    if (path == "/events") return follow(request);
    for (int i = 0; i < events_per_request; ++i) publish();
    std::string_view operation;
    auto name = instance_of({path.data(), path.size()}, operation);
    auto body = fmt::format(R"({{"service":"{}","status":"{}"}})", name,
                            operation == "start" ? "started" : "stopped");
    request->create_response()
        .append_header(restinio::http_field::content_type, "application/json")
        .set_body(std::move(body))
        .done();
    return restinio::request_accepted();
  }

  restinio::request_handling_status_t follow(const restinio::request_handle_t& request) {
    auto stream = std::make_shared<OpenStream>(
        request->create_response<restinio::chunked_output_t>()
            .append_header(restinio::http_field::content_type, "text/event-stream")
            .append_header(restinio::http_field::cache_control, "no-cache"));
    stream->send_head();
    std::lock_guard lock{mutex};
    streams.push_back(std::move(stream));
    return restinio::request_accepted();
  }

  /// One event, rendered once, written to every open response.
  void publish() {
    auto seq = next_seq.fetch_add(1, std::memory_order_relaxed);
    auto text = fmt::format(
        "id: df1041fadf27:{0}\nevent: running\ndata: "
        R"({{"boot":"df1041fadf27","cause":"request","error":null,"from_node":null,"node":"vm",)"
        R"("request_id":"b3871acc6731d0bece1b3c564a361904","seq":{0},"service":"cycle-12",)"
        R"("state":"running","time":"2026-12-06T03:43:43.200Z"}})"
        "\n\n",
        seq);
    std::vector<std::shared_ptr<OpenStream>> open;
    {
      std::lock_guard lock{mutex};
      open = streams;
    }
    for (const auto& stream : open) stream->write(text);
  }

  const int events_per_request;
  std::atomic<std::uint64_t> next_seq{1};
  mutable std::mutex mutex;
  std::vector<std::shared_ptr<OpenStream>> streams;
  std::unique_ptr<Running<restinio::default_traits_t>> server;
};

BareFanOut::BareFanOut(std::uint16_t port, int events_per_request)
    : impl_(std::make_unique<Impl>(events_per_request)) {
  impl_->server = std::make_unique<Running<restinio::default_traits_t>>(
      [port, impl = impl_.get()](auto& settings) {
        settings.address("127.0.0.1")
            .port(port)
            .socket_options_setter([](restinio::socket_options_t& socket) {
              socket.set_option(restinio::asio_ns::ip::tcp::no_delay(true));
            })
            .request_handler(
                [impl](restinio::request_handle_t request) { return impl->handle(request); });
      });
}

BareFanOut::~BareFanOut() {
  close_streams();
}

void BareFanOut::start() {
  impl_->server->start();
}

std::size_t BareFanOut::open_streams() const {
  std::lock_guard lock{impl_->mutex};
  return impl_->streams.size();
}

void BareFanOut::close_streams() {
  std::vector<std::shared_ptr<OpenStream>> open;
  {
    std::lock_guard lock{impl_->mutex};
    open.swap(impl_->streams);
  }
  for (const auto& stream : open) stream->close();
}

// -- negotiated_cipher ---------------------------------------------------------------------

std::string negotiated_cipher(int port) {
  testing::ChildProcess client{
      "openssl",
      {"s_client", "-connect", "127.0.0.1:" + std::to_string(port), "-brief", "-no_ign_eof"}};
  auto status = client.wait(std::chrono::seconds(10));
  if (status.timed_out()) client.kill();
  auto output = client.stdout_text() + client.stderr_text();
  auto value_of = [&output](std::string_view label) {
    auto at = output.find(label);
    if (at == std::string::npos) return std::string{};
    auto begin = at + label.size();
    auto end = output.find('\n', begin);
    auto value = output.substr(begin, end - begin);
    auto first = value.find_first_not_of(' ');
    return first == std::string::npos ? std::string{} : value.substr(first);
  };
  auto protocol = value_of("Protocol version:");
  auto cipher = value_of("Ciphersuite:");
  if (protocol.empty() || cipher.empty()) return "unknown";
  return protocol + " " + cipher;
}

}  // namespace processpype::benchmark
