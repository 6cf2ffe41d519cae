#include "processpype/runtime/service.hpp"

#include "processpype/runtime/logging.hpp"

namespace processpype {

void ServiceManager::fail(std::string reason) const {
  if (context_) context_->fail(std::move(reason));
}

std::optional<std::int64_t> ServiceManager::fencing_token() const {
  return context_ ? context_->fencing_token() : std::nullopt;
}

std::string ServiceManager::node_id() const {
  return context_ ? context_->node_id() : std::string();
}

void ServiceManager::emit(OutgoingMessage message) const {
  if (context_) context_->emit(std::move(message));
}

Service::Service(std::string name) : name_(std::move(name)) {}

Service::~Service() = default;

const std::shared_ptr<spdlog::logger>& Service::logger() {
  if (!logger_) logger_ = make_logger("processpype.services." + name_);
  return logger_;
}

std::unique_ptr<ServiceManager> Service::create_manager() {
  return std::make_unique<detail::LoggingManager>(logger());
}

std::unique_ptr<ServiceConfiguration> Service::create_configuration() const {
  return std::make_unique<ServiceConfiguration>();
}

void Service::start() {
  manager().start();
}

void Service::stop() {
  manager().stop();
}

Health Service::check_health() {
  return manager().check_health();
}

bool Service::may_block() {
  return manager().may_block();
}

void Service::fail(std::string reason) {
  if (context_) context_->fail(std::move(reason));
}

void Service::emit(OutgoingMessage message) {
  if (context_) context_->emit(std::move(message));
}

ServiceManager& Service::manager() {
  if (!manager_) {
    manager_ = create_manager();
    manager_->context_ = context_;
  }
  return *manager_;
}

void Service::every(std::chrono::nanoseconds interval, std::function<void()> tick) {
  if (!context_) throw std::logic_error("Service::every needs a running service actor");
  context_->every(interval, std::move(tick));
}

}  // namespace processpype
