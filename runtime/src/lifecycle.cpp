#include "processpype/runtime/lifecycle.hpp"

#include <fmt/format.h>

namespace processpype {

namespace {

std::chrono::nanoseconds to_duration(double seconds) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(seconds));
}

}  // namespace

ServiceLifecycle::ServiceLifecycle(std::unique_ptr<Service> service)
    : service_(std::move(service)) {
  service_->configuration_ = service_->create_configuration();
}

void ServiceLifecycle::ensure_manager() {
  service_->manager();
}

bool ServiceLifecycle::configure(const nlohmann::json& configuration) {
  if (is_active(state()))
    throw Error(ErrorCode::conflict, fmt::format("Cannot configure service {} while it is {}",
                                                 name(), to_string(state())));
  check_no_hook_in_flight();  // the manager's configure hook never overlaps start/stop
  auto candidate = service_->create_configuration();
  candidate->load(configuration);  // throws; nothing changed yet
  ensure_manager();
  service_->manager_->configure(*candidate);
  service_->configuration_ = std::move(candidate);
  auto& current = mutable_status();
  current.metadata = service_->configuration_->to_json();
  current.is_configured = true;
  current.state = ServiceState::configured;
  return service_->configuration_->starts_by_itself();
}

void ServiceLifecycle::begin_start() {
  if (is_active(state()))
    throw Error(ErrorCode::conflict,
                fmt::format("Service {} is already {}", name(), to_string(state())));
  if (service_->requires_configuration() && !mutable_status().is_configured) {
    fail(fmt::format("Service {} must be configured before starting", name()));
    throw Error(ErrorCode::conflict, mutable_status().error);
  }
  check_no_hook_in_flight();
  ensure_manager();
  hook_in_flight_.store(true, std::memory_order_relaxed);
  mutable_status().state = ServiceState::starting;
}

std::optional<Error> ServiceLifecycle::finish_start(const std::optional<std::string>& failure) {
  if (failure) {
    fail(fmt::format("Failed to start {} service: {}", name(), *failure));
    return Error(ErrorCode::service_failure, mutable_status().error);
  }
  mutable_status().state = ServiceState::running;
  mutable_status().error.clear();
  return std::nullopt;
}

ServiceLifecycle::StopPlan ServiceLifecycle::begin_stop() {
  switch (state()) {
    case ServiceState::starting:
    case ServiceState::stopping:
      return StopPlan::wait_for_transition;
    case ServiceState::running:
    case ServiceState::error:
      check_no_hook_in_flight();
      ensure_manager();
      hook_in_flight_.store(true, std::memory_order_relaxed);
      mutable_status().state = ServiceState::stopping;
      return StopPlan::run;
    default:
      return StopPlan::nothing_to_do;
  }
}

std::optional<Error> ServiceLifecycle::finish_stop(const std::optional<std::string>& failure) {
  if (failure) {
    fail(fmt::format("Failed to stop {} service: {}", name(), *failure));
    return Error(ErrorCode::service_failure, mutable_status().error);
  }
  mutable_status().state = ServiceState::stopped;
  return std::nullopt;
}

Error ServiceLifecycle::time_out() {
  bool starting = state() == ServiceState::starting;
  auto seconds = starting ? service_->configuration_->start_timeout_seconds
                          : service_->configuration_->stop_timeout_seconds;
  fail(fmt::format("Timed out {} {} service after {} s", starting ? "starting" : "stopping", name(),
                   seconds));
  return Error(ErrorCode::service_failure, mutable_status().error);
}

void ServiceLifecycle::fail(std::string reason) {
  mutable_status().state = ServiceState::error;
  mutable_status().error = std::move(reason);
}

std::chrono::nanoseconds ServiceLifecycle::start_timeout() const {
  return to_duration(service_->configuration_->start_timeout_seconds);
}

std::chrono::nanoseconds ServiceLifecycle::stop_timeout() const {
  return to_duration(service_->configuration_->stop_timeout_seconds);
}

const ServiceRoutes& ServiceLifecycle::routes() {
  if (!routes_) {
    routes_ = std::make_unique<ServiceRoutes>();
    service_->add_routes(*routes_);
  }
  return *routes_;
}

void ServiceLifecycle::attach(std::shared_ptr<ServiceContext> context) noexcept {
  service_->context_ = std::move(context);
}

void ServiceLifecycle::check_no_hook_in_flight() const {
  if (hook_in_flight_.load(std::memory_order_acquire))
    throw Error(
        ErrorCode::conflict,
        fmt::format("Service {} is still running an earlier start or stop that timed out", name()));
}

std::optional<std::string> ServiceLifecycle::run_hook(bool start) noexcept {
  struct ClearFlag {
    std::atomic<bool>& flag;
    ~ClearFlag() { flag.store(false, std::memory_order_release); }
  } clear{hook_in_flight_};
  try {
    if (start)
      service_->start();
    else
      service_->stop();
    return std::nullopt;
  } catch (const std::exception& error) {
    std::string what = error.what();
    return what.empty() ? std::string{"unknown error"} : what;
  } catch (...) {
    return std::string{"unknown exception"};
  }
}

}  // namespace processpype
