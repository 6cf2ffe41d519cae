#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "processpype/actors/protocol.hpp"
#include "processpype/runtime/service_registry.hpp"

namespace processpype {

/// ProcessPype embedded in a program that owns its caf::actor_system
/// (SPEC 8). It spawns the node's Supervisor on that system and offers
/// blocking calls that throw processpype::Error with the same codes and
/// texts REST clients see:
///
///     caf::actor_system_config config;
///     processpype::Runtime::add_types(config);
///     caf::actor_system system{config};
///     processpype::Runtime runtime{system};
///     auto echo = runtime.register_service<EchoService>();
///     runtime.start(echo.name);
///
/// Callers that are actors themselves send the messages of protocol.hpp to
/// supervisor() instead; the blocking calls are thin wrappers over them.
class Runtime {
 public:
  /// Registers ProcessPype's message types and error category. Call it on
  /// the configuration before the actor_system is created.
  static void add_types(caf::actor_system_config& config);

  /// `timeout` bounds configure, status, list and route calls; start, stop
  /// and deregister wait for the transition, which the service bounds with
  /// its own start/stop timeouts.
  explicit Runtime(caf::actor_system& system,
                   std::chrono::milliseconds timeout = std::chrono::seconds(5));
  /// Ends the Supervisor and every service actor (managers are not stopped:
  /// call stop first for a graceful end).
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  caf::actor_system& system() const noexcept { return system_; }
  const caf::actor& supervisor() const noexcept { return supervisor_; }

  /// Registers an instance of the class with registry key `class_key`,
  /// named by the auto-naming rule (SPEC 2.2) or `instance_name`.
  Registration register_service(std::string_view class_key,
                                std::optional<std::string> instance_name = std::nullopt);

  /// Registers `ServiceType` in the class registry if needed, then an instance of it.
  template <class ServiceType>
  Registration register_service(std::optional<std::string> instance_name = std::nullopt) {
    auto class_name = demangle(typeid(ServiceType).name());
    auto key = service_class_key(class_name);
    if (!ServiceClassRegistry::global().find(key))
      ServiceClassRegistry::global().add<ServiceType>(class_name);
    return register_service(key, std::move(instance_name));
  }

  void configure(const std::string& name, const nlohmann::json& configuration);
  void start(const std::string& name);
  void stop(const std::string& name);
  ServiceStatus status(const std::string& name);
  std::vector<NamedStatus> list();
  Deregistration deregister(const std::string& name);
  RouteResponse call_route(const std::string& name, RouteRequest request);

  /// Stops every running service in reverse start order within `timeout`;
  /// returns the names that did not stop cleanly in time.
  std::vector<std::string> stop_all(std::chrono::milliseconds timeout);

 private:
  static std::string demangle(const char* mangled);

  template <class Result, class... Ts>
  Result call(caf::duration timeout, Ts&&... message);

  caf::actor_system& system_;
  caf::duration timeout_;
  caf::actor supervisor_;
};

}  // namespace processpype
