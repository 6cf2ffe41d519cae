#include "processpype/runtime/lifecycle.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "processpype/runtime/durations.hpp"
#include "processpype/runtime/secrets.hpp"

namespace processpype {

namespace {

/// What the lifecycle keeps of an accepted configuration, from one
/// to_json(): the metadata statuses show, the stored configuration, and
/// the clear values redact() hides.
struct ConfigurationForms {
  nlohmann::json metadata;
  std::shared_ptr<const nlohmann::json> stored;
  std::shared_ptr<const std::vector<std::string>> secret_values;
};

/// `given`: the configure's body as prepared (its `stored` form), whose
/// secret fields are kept as given, references included.
ConfigurationForms forms_of(const ServiceConfiguration& configuration,
                            const nlohmann::json& given) {
  auto metadata = configuration.to_json();
  auto stored = std::make_shared<nlohmann::json>(metadata);
  auto values = std::make_shared<std::vector<std::string>>();
  for (const auto& field : configuration.secret_field_names()) {
    auto& value = metadata[field];
    if (value.is_string() && value.get_ref<const std::string&>().size() >= shortest_redacted_secret)
      values->push_back(value.get<std::string>());
    if (auto found = given.find(field); found != given.end()) (*stored)[field] = *found;
    value = mask_secret(value);
  }
  // Longest first: a secret that contains another is replaced whole.
  std::sort(values->begin(), values->end(),
            [](const auto& a, const auto& b) { return a.size() > b.size(); });
  return {std::move(metadata), std::move(stored), std::move(values)};
}

}  // namespace

ServiceLifecycle::ServiceLifecycle(std::unique_ptr<Service> service)
    : service_(std::move(service)),
      stored_(std::make_shared<const nlohmann::json>(nlohmann::json::object())),
      secret_values_(std::make_shared<const std::vector<std::string>>()) {
  service_->configuration_ = service_->create_configuration();
}

void ServiceLifecycle::ensure_manager() {
  service_->manager();
}

void ServiceLifecycle::check_dependencies(const ServiceConfiguration& candidate) const {
  const auto& depends_on = candidate.depends_on;
  if (std::find(depends_on.begin(), depends_on.end(), name()) != depends_on.end())
    throw ConfigurationError("depends_on",
                             fmt::format("must not name the instance itself ({})", name()));
}

// -- the transitions (docs/architecture.md, "Lifecycle") ----------------------
//
//   command    accepted in                              leads to
//   ---------  ---------------------------------------  -------------------------
//   configure  initialized, configured, stopped, error  configured
//   start      initialized, configured, stopped, error  starting -> running | error
//   stop       running, error (starting: after it)      stopping -> stopped | error
//   failure    any                                      error
//
//                        configure
//     +-------------+ ------------> +------------+
//     | initialized |               | configured | <---- configure (from stopped
//     +-------------+               +------------+       and error as well)
//            |                            |
//            +----------- start ----------+<---- start (from stopped and error
//                           |                    as well)
//                           v
//                    +-------------+   start failed or timed out
//                    |  starting   | ---------------------------------+
//                    +-------------+                                  |
//                           | start returned                          |
//                           v                                         v
//                    +-------------+   failure (in any state)   +-----------+
//                    |   running   | -------------------------> |   error   |
//                    +-------------+                            +-----------+
//                           | stop                        stop  |     ^
//                           v                                   |     |
//                    +-------------+ <--------------------------+     |
//                    |  stopping   | ---------------------------------+
//                    +-------------+   stop failed or timed out
//                           | stop returned
//                           v
//                    +-------------+
//                    |   stopped   |
//                    +-------------+
//
// A stop while starting waits for the start to end (StopPlan::wait_for_transition).

bool ServiceLifecycle::configure(const nlohmann::json& configuration) {
  return apply_configuration(prepare_configuration(configuration));
}

ServiceLifecycle::Candidate ServiceLifecycle::prepare_configuration(
    const nlohmann::json& configuration) const {
  if (is_active(state()))
    throw Error(ErrorCode::conflict, fmt::format("Cannot configure service {} while it is {}",
                                                 name(), to_string(state())));
  Candidate candidate;
  candidate.configuration = service_->create_configuration();
  auto prepared = ::processpype::prepare_configuration(*candidate.configuration, configuration,
                                                       *stored_, *SecretStore::global().backends());
  candidate.configuration->load(prepared.resolved);  // throws; nothing changed yet
  check_dependencies(*candidate.configuration);
  auto forms = forms_of(*candidate.configuration, prepared.stored);
  candidate.stored_body = std::move(prepared.stored);
  candidate.metadata = std::move(forms.metadata);
  candidate.stored = std::move(forms.stored);
  candidate.secret_values = std::move(forms.secret_values);
  return candidate;
}

std::optional<Error> ServiceLifecycle::start_refusal() const {
  if (is_active(state()))
    return Error(ErrorCode::conflict,
                 fmt::format("Service {} is already {}", name(), to_string(state())));
  if (service_->requires_configuration() && !status().is_configured)
    return Error(ErrorCode::conflict,
                 fmt::format("Service {} must be configured before starting", name()));
  return std::nullopt;
}

bool ServiceLifecycle::apply_configuration(Candidate candidate) {
  ensure_manager();
  try {
    service_->manager_->configure(*candidate.configuration);
  } catch (const Error& error) {
    throw Error(error.code(), redact_values(error.detail(), *candidate.secret_values));
  } catch (const std::exception& error) {
    throw Error(ErrorCode::service_failure, redact_values(error.what(), *candidate.secret_values));
  }
  stored_ = std::move(candidate.stored);
  secret_values_.store(std::move(candidate.secret_values), std::memory_order_release);
  service_->configuration_ = std::move(candidate.configuration);
  auto& current = mutable_status();
  current.metadata = std::move(candidate.metadata);
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
  ensure_manager();
  mutable_status().state = ServiceState::starting;
}

std::optional<Error> ServiceLifecycle::finish_start(const std::string& failure) {
  if (!failure.empty()) {
    fail(fmt::format("Failed to start {} service: {}", name(), failure));
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
      ensure_manager();
      mutable_status().state = ServiceState::stopping;
      return StopPlan::run;
    default:
      return StopPlan::nothing_to_do;
  }
}

std::optional<Error> ServiceLifecycle::finish_stop(const std::string& failure) {
  clear_health();
  if (!failure.empty()) {
    fail(fmt::format("Failed to stop {} service: {}", name(), failure));
    return Error(ErrorCode::service_failure, mutable_status().error);
  }
  mutable_status().state = ServiceState::stopped;
  return std::nullopt;
}

Error ServiceLifecycle::time_out(std::chrono::nanoseconds bound) {
  bool starting = state() == ServiceState::starting;
  fail(fmt::format("Timed out {} {} service after {} s", starting ? "starting" : "stopping", name(),
                   std::chrono::duration<double>(bound).count()));
  return Error(ErrorCode::service_failure, mutable_status().error);
}

void ServiceLifecycle::fail(std::string reason) {
  mutable_status().state = ServiceState::error;
  mutable_status().error = redact(std::move(reason));
}

std::string ServiceLifecycle::redact(std::string text) const {
  return redact_values(std::move(text), *secret_values_.load(std::memory_order_acquire));
}

// -- health, timeouts and the manager's calls ---------------------------------

void ServiceLifecycle::record_health(const Health& health) {
  mutable_status().health =
      HealthReport{health.ok, health.detail, std::chrono::system_clock::now()};
}

void ServiceLifecycle::clear_health() {
  mutable_status().health.reset();
}

std::chrono::nanoseconds ServiceLifecycle::start_timeout() const {
  return to_duration(configuration().start_timeout_seconds);
}

std::chrono::nanoseconds ServiceLifecycle::stop_timeout() const {
  return to_duration(configuration().stop_timeout_seconds);
}

std::chrono::nanoseconds ServiceLifecycle::health_interval() const {
  return to_duration(configuration().health_interval_seconds);
}

std::chrono::nanoseconds ServiceLifecycle::health_timeout() const {
  return to_duration(configuration().health_timeout_seconds);
}

bool ServiceLifecycle::calls_may_block() {
  return service_->may_block();
}

const ServiceRoutes& ServiceLifecycle::routes() {
  if (!routes_) {
    routes_ = std::make_unique<ServiceRoutes>();
    service_->add_routes(*routes_);
  }
  return *routes_;
}

void ServiceLifecycle::attach(std::shared_ptr<ServiceContext> context) noexcept {
  service_->context_ = context;
  if (service_->manager_) service_->manager_->context_ = std::move(context);
}

ServiceLifecycle::Outcome ServiceLifecycle::run(Call call) noexcept {
  struct ClearFlag {
    std::atomic<bool>& flag;
    ~ClearFlag() { flag.store(false, std::memory_order_release); }
  } clear{call_in_flight_};
  try {
    switch (call) {
      case Call::start:
        service_->start();
        break;
      case Call::stop:
      case Call::cleanup:
        service_->stop();
        break;
      case Call::health: {
        auto health = service_->check_health();
        health.detail = redact(std::move(health.detail));
        return health;
      }
    }
    return std::string{};
  } catch (const std::exception& error) {
    std::string what = redact(error.what());
    if (what.empty()) what = "unknown error";
    if (call == Call::health) return Health{false, what};
    return what;
  } catch (...) {
    if (call == Call::health) return Health{false, "unknown exception"};
    return std::string{"unknown exception"};
  }
}

}  // namespace processpype
