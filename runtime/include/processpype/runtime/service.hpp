#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>

#include <spdlog/logger.h>

#include "processpype/runtime/configuration.hpp"
#include "processpype/runtime/outgoing_message.hpp"
#include "processpype/runtime/routes.hpp"
#include "processpype/runtime/service_status.hpp"

namespace processpype {

/// What the actor running a service offers the code of that service.
/// Implemented by the actor layer; thread-safe; once the actor is gone,
/// every call does nothing.
class ServiceContext {
 public:
  virtual ~ServiceContext() = default;
  /// Calls `tick` in the service's actor every `interval` until the service
  /// leaves `running`.
  virtual void every(std::chrono::nanoseconds interval, std::function<void()> tick) = 0;
  /// Reports a failure at run time: the service enters `error` with
  /// `reason` and is supervised like any failure (docs/supervision.md).
  virtual void fail(std::string reason) = 0;
  /// A cluster instance's fencing token on this node (docs/cluster.md,
  /// "Fencing tokens"); nullopt for a node instance.
  virtual std::optional<std::int64_t> fencing_token() const { return std::nullopt; }
  /// The id of the node that runs the instance (empty until the node has one).
  virtual std::string node_id() const { return {}; }
  /// Queues `message` for the node's communications backends
  /// (docs/communications.md), `source` defaulting to the instance's name;
  /// returns at once. Nothing happens when the node has none (this
  /// default).
  virtual void emit(OutgoingMessage /*message*/) {}
};

/// The answer of a health check.
struct Health {
  bool ok = true;
  std::string detail;
};

/// The business logic of a service.
///
/// By default its calls may block (open a socket, join a thread): the
/// runtime then runs start(), stop() and check_health() on the node's
/// manager threads, never on CAF's scheduler, so a slow manager stalls
/// nothing else, and bounds them by the service's timeouts. A manager whose
/// calls return at once says so by overriding `may_block()`; its calls then
/// run inside the service's actor, which saves two thread hops per
/// transition (docs/architecture.md, "The transition path").
///
/// A manager never sees two of its calls at once.
class ServiceManager {
 public:
  explicit ServiceManager(std::shared_ptr<spdlog::logger> logger) : logger_(std::move(logger)) {}
  virtual ~ServiceManager() = default;

  virtual void start() = 0;
  virtual void stop() = 0;

  /// Called with each accepted configuration, in the service's actor, never
  /// while another call runs. ConfiguredManager gives it the typed one.
  virtual void configure(const ServiceConfiguration& /*configuration*/) {}

  /// Runs every `health_interval_seconds` while the service is running;
  /// `health_failures` consecutive not-ok answers are a failure. It runs on
  /// a manager thread (unless may_block() is false), possibly while routes
  /// run in the actor.
  virtual Health check_health() { return {}; }

  /// Whether start/stop/check_health may block. Default: true.
  virtual bool may_block() const { return true; }

  /// Reports a failure at run time, from any thread (e.g. a worker that
  /// lost its connection). Does nothing once the service's actor is gone.
  void fail(std::string reason) const;
  /// Sends a message to people, as Service::emit does, from any thread.
  void emit(OutgoingMessage message) const;

  /// The fencing token of a cluster instance (docs/cluster.md, "Fencing
  /// tokens"): larger for every node that takes the instance over. A manager
  /// that guards something outside the process (a lock, a row, a file)
  /// passes it along so that the guarded side can refuse an older owner
  /// that woke up late. nullopt for a node instance.
  std::optional<std::int64_t> fencing_token() const;

  /// The id of the node that runs this instance (`node.id`, or the id the
  /// node took when it published); empty outside a runtime.
  std::string node_id() const;

  /// The logger `processpype.services.<name>`.
  spdlog::logger& logger() const noexcept { return *logger_; }

 private:
  friend class Service;
  friend class ServiceLifecycle;
  std::shared_ptr<spdlog::logger> logger_;
  std::shared_ptr<ServiceContext> context_;
};

/// A manager of a service whose configuration is `Configuration`: its
/// configure hook gets the typed configuration.
template <class Configuration>
class ConfiguredManager : public ServiceManager {
 public:
  using ServiceManager::ServiceManager;

  virtual void configure(const Configuration& /*configuration*/) {}

 private:
  void configure(const ServiceConfiguration& configuration) final {
    configure(static_cast<const Configuration&>(configuration));
  }
};

/// A service: lifecycle coordination and configuration. Subclasses may
/// create a manager, declare a configuration type, custom routes and
/// lifecycle hooks. Instances are owned and driven by a ServiceLifecycle;
/// their constructor should only store the name (the runtime also creates
/// throwaway instances to describe a class in its OpenAPI document).
class Service {
 public:
  explicit Service(std::string name);
  virtual ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  const std::string& name() const noexcept { return name_; }
  /// The lifecycle status; read it in the service's actor (routes, hooks).
  const ServiceStatus& status() const noexcept { return status_; }

  /// The logger `processpype.services.<name>`, created on first use.
  const std::shared_ptr<spdlog::logger>& logger();

  /// Creates the manager, once, before the first configure or start. The
  /// default has nothing to manage: start and stop only log.
  virtual std::unique_ptr<ServiceManager> create_manager();

  /// Whether start is refused until a valid configure (default: true).
  virtual bool requires_configuration() const { return true; }

  /// A fresh, default configuration of this service's type.
  virtual std::unique_ptr<ServiceConfiguration> create_configuration() const;

  /// Declares custom routes under `/services/{name}/`. Called once, lazily.
  virtual void add_routes(ServiceRoutes& /*routes*/) {}

  /// Lifecycle hooks, run where the manager's calls run. Override to wrap
  /// the manager's start/stop with pre/post logic, and call the base.
  virtual void start();
  virtual void stop();
  virtual Health check_health();

  /// Whether the hooks may block; default: the manager's may_block().
  virtual bool may_block();

  /// The current configuration (defaults until the first configure).
  const ServiceConfiguration& configuration() const { return *configuration_; }

  /// Reports a failure at run time, from any thread.
  void fail(std::string reason);

  /// Sends a message to people through the node's communications backends
  /// (docs/communications.md): to every enabled backend whose labels
  /// contain `message.label`; `source` defaults to this instance's name.
  /// Thread-safe, and it never waits: the message is queued (or dropped and
  /// counted when a backend's queue is full), not sent. Without
  /// communications configured, or before the service's actor exists, it
  /// does nothing.
  void emit(OutgoingMessage message);

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
  /// Shared: a hook still running after its actor ended may reach it.
  std::shared_ptr<ServiceContext> context_;
};

namespace detail {
/// The manager of a service without business logic of its own.
class LoggingManager final : public ServiceManager {
 public:
  using ServiceManager::ServiceManager;
  void start() override { logger().info("Service started"); }
  void stop() override { logger().info("Service stopped"); }
  bool may_block() const override { return false; }
};
}  // namespace detail

/// A service whose configuration is `Configuration` (`config()` is typed)
/// and, optionally, whose manager is `Manager` (`manager()` is typed). The
/// manager is constructed from the logger, and the configuration if it
/// takes one.
template <class Configuration, class Manager = void>
class ConfiguredService : public Service {
 public:
  using Service::Service;

  std::unique_ptr<ServiceConfiguration> create_configuration() const override {
    return std::make_unique<Configuration>();
  }
  const Configuration& config() const { return static_cast<const Configuration&>(configuration()); }

  std::unique_ptr<ServiceManager> create_manager() override {
    if constexpr (std::is_void_v<Manager>)
      return Service::create_manager();
    else if constexpr (std::is_constructible_v<Manager, std::shared_ptr<spdlog::logger>,
                                               const Configuration&>)
      return std::make_unique<Manager>(logger(), config());
    else
      return std::make_unique<Manager>(logger());
  }

 protected:
  template <class M = Manager, class = std::enable_if_t<!std::is_void_v<M>>>
  M& manager() {
    return static_cast<M&>(Service::manager());
  }
};

}  // namespace processpype
