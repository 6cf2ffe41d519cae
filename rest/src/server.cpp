#include "processpype/rest/server.hpp"

#include <future>

#include "processpype/rest/json_mapping.hpp"
#include "restinio_settings.hpp"

namespace processpype::rest {

namespace {

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
               apply_server_settings(settings)
                   .address(options.host)
                   .port(options.port)
                   .request_handler([this](restinio::request_handle_t request) {
                     return handle(std::move(request));
                   });
             }),
        runner(options.threads, http) {}

  restinio::request_handling_status_t handle(restinio::request_handle_t request) {
    if (body_too_large(*request)) {
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
