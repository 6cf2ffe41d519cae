#include "processpype/communications/dispatcher.hpp"

#include <random>
#include <stdexcept>

#include "outbox.hpp"
#include "processpype/runtime/logging.hpp"

namespace processpype::communications {

namespace {

void check_options(const DispatcherOptions& options) {
  if (options.queue_capacity == 0 || options.queue_bytes == 0)
    throw std::invalid_argument("communications queue capacity must be at least 1");
  if (options.retry.max_attempts < 1)
    throw std::invalid_argument("communications max_attempts must be at least 1");
  if (options.retry.first_delay.count() < 0 || options.retry.max_delay.count() < 0)
    throw std::invalid_argument("communications retry delays must not be negative");
}

std::unique_ptr<Transport> make_transport(const BackendSettings& backend) {
  if (const auto* webhook = std::get_if<WebhookSettings>(&backend.transport))
    return make_webhook_transport(*webhook);
  if (const auto* email = std::get_if<EmailSettings>(&backend.transport))
    return make_email_transport(*email);
  return make_telegram_transport(std::get<TelegramSettings>(backend.transport));
}

}  // namespace

Dispatcher::Dispatcher(std::vector<BackendSettings> backends, DispatcherOptions options)
    : node_(std::make_shared<const std::string>(options.node)) {
  validate(backends);
  check_options(options);
  auto logger = options.logger ? options.logger : make_logger("processpype.communications");
  for (const auto& backend : backends)
    if (backend.enabled)
      outboxes_.push_back(
          std::make_unique<Outbox>(backend, make_transport(backend), options, logger));
}

Dispatcher::~Dispatcher() {
  // Every sender is told first, so that they all wind down at once.
  for (auto& outbox : outboxes_) outbox->request_stop();
  outboxes_.clear();
}

void Dispatcher::emit(Message message) {
  EnvelopePtr envelope;  // made for the first backend that takes it, shared by the others
  for (auto& outbox : outboxes_) {
    if (!outbox->handles(envelope ? envelope->message.label : message.label)) continue;
    if (!envelope) {
      thread_local std::mt19937_64 random{std::random_device{}()};
      auto bytes = message_size(message);
      envelope = std::make_shared<const Envelope>(
          Envelope{std::move(message), std::chrono::system_clock::now(), node(), random(), bytes});
    }
    outbox->offer(envelope);
  }
}

void Dispatcher::set_node(std::string node) {
  auto shared = std::make_shared<const std::string>(std::move(node));
  std::lock_guard lock{node_mutex_};
  node_ = std::move(shared);
}

std::shared_ptr<const std::string> Dispatcher::node() const {
  std::lock_guard lock{node_mutex_};
  return node_;
}

bool Dispatcher::flush(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (auto& outbox : outboxes_)
    if (!outbox->wait_drained(deadline)) return false;
  return true;
}

std::vector<BackendCounters> Dispatcher::counters() const {
  std::vector<BackendCounters> counters;
  counters.reserve(outboxes_.size());
  for (const auto& outbox : outboxes_) counters.push_back(outbox->counters());
  return counters;
}

}  // namespace processpype::communications
