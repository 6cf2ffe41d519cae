#include "processpype/rest/server.hpp"

#include <future>

#include <restinio/all.hpp>

#include "processpype/rest/json_mapping.hpp"

namespace processpype::rest {

/// Same methods as RESTinio's default; a distinct type so that the parser
/// callbacks below can be specialized for ProcessPype's server only.
struct BodyLimitedHttpMethods : restinio::default_http_methods_t {};

namespace {

/// Marks a request whose body passed Server::max_body_bytes. Set by the
/// parser callbacks below (a client sending it is overridden), read by the
/// handler to answer 413.
constexpr const char* body_too_large_field = "X-ProcessPype-Body-Too-Large";

restinio::impl::http_parser_ctx_t& context_of(http_parser* parser) {
  return *reinterpret_cast<restinio::impl::http_parser_ctx_t*>(parser->data);
}

bool body_too_large(restinio::impl::http_parser_ctx_t& context) {
  return context.m_header.has_field(body_too_large_field);
}

void mark_body_too_large(restinio::impl::http_parser_ctx_t& context) {
  if (!body_too_large(context)) context.m_header.set_field(body_too_large_field, "true");
  context.m_body.clear();
  context.m_body.shrink_to_fit();
}

/// RESTinio's own limit closes the connection without a response. These
/// callbacks instead keep parsing but stop buffering past the limit, so the
/// handler can answer 413 and the connection stays usable.
int limited_headers_complete(http_parser* parser) {
  auto& context = context_of(parser);
  context.m_header.remove_field(body_too_large_field);
  auto length = parser->content_length;
  bool declared_too_large = length != ULLONG_MAX && length > Server::max_body_bytes;
  if (declared_too_large) parser->content_length = 0;  // RESTinio would reserve it
  int result = restinio::impl::restinio_headers_complete_cb(parser);
  if (declared_too_large) {
    parser->content_length = length;
    mark_body_too_large(context);
  }
  return result;
}

int limited_body(http_parser* parser, const char* at, std::size_t length) {
  auto& context = context_of(parser);
  if (body_too_large(context)) return 0;
  if (context.m_body.size() + length > Server::max_body_bytes) {
    mark_body_too_large(context);
    return 0;
  }
  return restinio::impl::restinio_body_cb(parser, at, length);
}

int limited_chunk_header(http_parser* parser) {
  if (body_too_large(context_of(parser))) return 0;
  return restinio::impl::restinio_chunk_header_cb(parser);
}

int limited_chunk_complete(http_parser* parser) {
  if (body_too_large(context_of(parser))) return 0;
  return restinio::impl::restinio_chunk_complete_cb(parser);
}

}  // namespace
}  // namespace processpype::rest

template <>
inline http_parser_settings
restinio::impl::create_parser_settings<processpype::rest::BodyLimitedHttpMethods>() noexcept {
  auto settings = create_parser_settings<restinio::default_http_methods_t>();
  settings.on_headers_complete = &processpype::rest::limited_headers_complete;
  settings.on_body = &processpype::rest::limited_body;
  settings.on_chunk_header = &processpype::rest::limited_chunk_header;
  settings.on_chunk_complete = &processpype::rest::limited_chunk_complete;
  return settings;
}

namespace processpype::rest {

namespace {

struct ServerTraits : restinio::default_traits_t {
  using http_methods_mapper_t = BodyLimitedHttpMethods;
};

using HttpServer = restinio::http_server_t<ServerTraits>;

restinio::http_status_line_t status_line(int status) {
  auto reason = [status]() -> const char* {
    switch (status) {
      case 200:
        return "OK";
      case 400:
        return "Bad Request";
      case 404:
        return "Not Found";
      case 405:
        return "Method Not Allowed";
      case 409:
        return "Conflict";
      case 413:
        return "Payload Too Large";
      case 422:
        return "Unprocessable Entity";
      case 500:
        return "Internal Server Error";
      case 503:
        return "Service Unavailable";
      case 504:
        return "Gateway Timeout";
      default:
        return status < 400 ? "OK" : "Error";
    }
  }();
  return restinio::http_status_line_t{
      restinio::http_status_code_t{static_cast<std::uint16_t>(status)}, reason};
}

/// An HttpExchange over a RESTinio request; respond() may run on any thread.
class RestinioExchange final : public HttpExchange {
 public:
  explicit RestinioExchange(restinio::request_handle_t request) : request_(std::move(request)) {}

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

  void respond(int status, std::string json_body, std::string_view allow) override {
    auto response = request_->create_response(status_line(status));
    response.append_header(restinio::http_field::content_type, "application/json");
    if (!allow.empty()) response.append_header(restinio::http_field::allow, std::string{allow});
    response.set_body(std::move(json_body));
    response.done();
  }

 private:
  restinio::request_handle_t request_;
};

}  // namespace

struct Server::Impl {
  Impl(caf::actor_system& system, ApiTargets targets, ServerOptions server_options)
      : options(std::move(server_options)),
        api(system, std::move(targets), ApiOptions{options.api_prefix, options.version}),
        http(restinio::own_io_context(),
             [this](auto& settings) {
               settings.address(options.host)
                   .port(options.port)
                   // A start or stop answers when the transition ends, which
                   // the service bounds with its own timeouts.
                   .handle_request_timeout(std::chrono::hours(24))
                   .request_handler([this](restinio::request_handle_t request) {
                     return handle(std::move(request));
                   });
             }),
        runner(options.threads, http) {}

  restinio::request_handling_status_t handle(restinio::request_handle_t request) {
    if (request->header().has_field(body_too_large_field)) {
      RestinioExchange{std::move(request)}.respond(
          413, dump(error_body("Request body exceeds 1 MiB")), {});
    } else {
      api.handle(std::make_shared<RestinioExchange>(std::move(request)));
    }
    return restinio::request_accepted();
  }

  ServerOptions options;
  Api api;
  HttpServer http;
  restinio::on_pool_runner_t<HttpServer> runner;
  bool running = false;
};

Server::Server(caf::actor_system& system, ApiTargets targets, ServerOptions options)
    : impl_(std::make_unique<Impl>(system, std::move(targets), std::move(options))) {}

Server::~Server() {
  stop();
}

void Server::start() {
  std::promise<void> started;
  auto result = started.get_future();
  impl_->runner.start(
      [&started]() noexcept { started.set_value(); },
      [&started](std::exception_ptr error) noexcept { started.set_exception(std::move(error)); });
  try {
    result.get();
  } catch (const std::exception& error) {
    throw std::runtime_error("Cannot serve HTTP on " + impl_->options.host + ":" +
                             std::to_string(impl_->options.port) + ": " + error.what());
  }
  impl_->running = true;
}

void Server::stop() {
  if (!std::exchange(impl_->running, false)) return;
  impl_->runner.stop();
  impl_->runner.wait();
}

Api& Server::api() noexcept {
  return impl_->api;
}

}  // namespace processpype::rest
