#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <spdlog/logger.h>

#include "processpype/runtime/configuration.hpp"
#include "processpype/runtime/routes.hpp"
#include "processpype/runtime/service_status.hpp"

namespace processpype {

/// The business logic of a service. start() and stop() may block (open a
/// socket, join a thread): the runtime calls them on a manager thread, never
/// on CAF's scheduler, so a slow manager stalls nothing else.
class ServiceManager {
 public:
  explicit ServiceManager(std::shared_ptr<spdlog::logger> logger) : logger_(std::move(logger)) {}
  virtual ~ServiceManager() = default;

  virtual void start() = 0;
  virtual void stop() = 0;

  /// Called with each accepted configuration (in the service's actor, never
  /// while start/stop runs). Downcast to the service's configuration type.
  virtual void configure(const ServiceConfiguration& /*configuration*/) {}

  /// The logger `processpype.services.<name>`.
  spdlog::logger& logger() const noexcept { return *logger_; }

 private:
  std::shared_ptr<spdlog::logger> logger_;
};

/// What the actor running a service offers it. Implemented by the actor layer.
class ServiceContext {
 public:
  virtual ~ServiceContext() = default;
  /// Calls `tick` in the service's actor every `interval` until the service
  /// leaves `running`. Thread-safe.
  virtual void every(std::chrono::nanoseconds interval, std::function<void()> tick) = 0;
};

/// A service: lifecycle coordination and configuration. Subclasses create
/// their manager and may declare a configuration type, custom routes and
/// lifecycle hooks. Instances are owned and driven by a ServiceLifecycle.
class Service {
 public:
  explicit Service(std::string name);
  virtual ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  const std::string& name() const noexcept { return name_; }
  const ServiceStatus& status() const noexcept { return status_; }

  /// The logger `processpype.services.<name>`, created on first use.
  const std::shared_ptr<spdlog::logger>& logger();

  /// Creates the manager; called once, before the first configure or start.
  virtual std::unique_ptr<ServiceManager> create_manager() = 0;

  /// Whether start is refused until a valid configure (default: true).
  virtual bool requires_configuration() const { return true; }

  /// A fresh, default configuration of this service's type.
  virtual std::unique_ptr<ServiceConfiguration> create_configuration() const;

  /// Declares custom routes under `/services/{name}/`. Called once, lazily.
  virtual void add_routes(ServiceRoutes& /*routes*/) {}

  /// Lifecycle hooks, run on a manager thread. Override to wrap the
  /// manager's start/stop with pre/post logic, and call the base.
  virtual void start();
  virtual void stop();

  /// The current configuration (defaults until the first configure).
  const ServiceConfiguration& configuration() const { return *configuration_; }
  template <class Configuration>
  const Configuration& configuration() const {
    return static_cast<const Configuration&>(*configuration_);
  }

 protected:
  ServiceManager& manager();

  /// Calls `tick` inside this service's actor every `interval` while the
  /// service is running (timers end when it leaves running). Thread-safe.
  void every(std::chrono::nanoseconds interval, std::function<void()> tick);

 private:
  friend class ServiceLifecycle;

  std::string name_;
  std::shared_ptr<spdlog::logger> logger_;
  std::unique_ptr<ServiceManager> manager_;
  std::unique_ptr<ServiceConfiguration> configuration_;
  ServiceStatus status_;
  /// Shared: a hook still running after its actor ended may call every().
  std::shared_ptr<ServiceContext> context_;
};

/// A service whose configuration is `Configuration`; `config()` is typed.
template <class Configuration>
class ConfiguredService : public Service {
 public:
  using Service::Service;

  std::unique_ptr<ServiceConfiguration> create_configuration() const override {
    return std::make_unique<Configuration>();
  }
  const Configuration& config() const { return configuration<Configuration>(); }
};

}  // namespace processpype
