#include "processpype/rest/server.hpp"

#include <openssl/ssl.h>

#include "processpype/actors/runtime.hpp"
#include "restinio_adapter.hpp"
#include "tls_material.hpp"

namespace processpype::rest {

struct Server::Impl {
  Impl(Runtime& runtime, ServerOptions server_options)
      : options(std::move(server_options)), api(runtime, options.api) {
    runtime.set_gateway(api.gateway());
    ListenerOptions listener_options{options.host, options.port, options.threads, options.limits,
                                     nullptr};
    if (options.tls.enabled()) {
      tls = std::make_unique<TlsMaterial>(options.tls);
      listener_options.prepare_tls = [material = tls.get()](SSL_CTX* context) {
        material->install(context);
      };
    }
    listener = make_http_listener(
        std::move(listener_options), [this](const ExchangePtr& exchange) { api.handle(exchange); },
        [this](const ExchangePtr& exchange, HttpResponse response) {
          api.answer_refusal(exchange, std::move(response));
        });
  }

  ServerOptions options;
  std::unique_ptr<TlsMaterial> tls;
  Api api;
  std::unique_ptr<HttpListener> listener;
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
  impl_->listener->stop();
}

void Server::reload_tls(const TlsFiles& files) {
  if (impl_->tls) impl_->tls->reload(files);
}

Api& Server::api() noexcept {
  return impl_->api;
}

}  // namespace processpype::rest
