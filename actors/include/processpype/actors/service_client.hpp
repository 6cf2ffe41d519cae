#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/duration.hpp>
#include <caf/fwd.hpp>
#include <nlohmann/json.hpp>

#include "processpype/actors/protocol.hpp"

namespace processpype {

/// Blocking calls to one node's Supervisor: the same commands REST offers,
/// throwing processpype::Error with the codes and texts REST clients see.
/// Get one for the local node from Runtime, for another with Runtime::at.
class ServiceClient {
 public:
  /// `lifecycle_timeout` bounds the commands: register, configure, start,
  /// stop, deregister and stop_all, which answer once they acted (after
  /// their change is written to the state file, and after the clean-up or
  /// health check they wait for: docs/supervision.md), so that a timeout
  /// never reports a command that then takes effect; `timeout` bounds the
  /// other calls.
  ServiceClient(caf::actor_system& system, SupervisorActor supervisor,
                std::chrono::milliseconds timeout,
                std::optional<std::chrono::milliseconds> lifecycle_timeout);

  const SupervisorActor& supervisor() const noexcept { return supervisor_; }

  /// Registers an instance of the class with registry key `class_key`,
  /// named by the auto-naming rule (docs/rest-api.md) or `instance_name`.
  /// A name that the node restored from its state file with the same class
  /// returns that instance (docs/state.md): registering in code at every
  /// start is idempotent.
  Registration register_service(std::string_view class_key,
                                std::optional<std::string> instance_name = std::nullopt);
  void configure(const std::string& name, const nlohmann::json& configuration,
                 Trigger trigger = EventCause::request);
  void start(const std::string& name, Trigger trigger = EventCause::request);
  /// The stop acts even when the state file cannot record it: the result's
  /// `warning` says so.
  StopResult stop(const std::string& name, Trigger trigger = EventCause::request);
  ServiceStatus status(const std::string& name);
  std::vector<NamedStatus> list();
  Deregistration deregister(const std::string& name, Trigger trigger = EventCause::request);
  RouteResponse call_route(const std::string& name, RouteRequest request);
  ApplicationInfo info();

  /// Stops every running service (dependents first, else in reverse start
  /// order) within `timeout`; returns the names that did not stop cleanly.
  std::vector<std::string> stop_all(std::chrono::milliseconds timeout);

 protected:
  caf::actor_system& system_;
  SupervisorActor supervisor_;
  caf::duration timeout_;
  caf::duration lifecycle_timeout_;
};

}  // namespace processpype
