#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "processpype/actors/protocol.hpp"

namespace processpype {

/// Blocking calls to one node's Supervisor: the same commands REST offers,
/// throwing processpype::Error with the codes and texts REST clients see.
/// Get one for the local node from Runtime, for another with Runtime::at.
class ServiceClient {
 public:
  /// `timeout` bounds every call; `lifecycle_timeout` bounds start, stop,
  /// deregister and stop_all, which answer when the transition ends.
  ServiceClient(caf::actor_system& system, caf::actor supervisor, std::chrono::milliseconds timeout,
                std::optional<std::chrono::milliseconds> lifecycle_timeout);

  const caf::actor& supervisor() const noexcept { return supervisor_; }

  /// Registers an instance of the class with registry key `class_key`,
  /// named by the auto-naming rule (SPEC 2.2) or `instance_name`.
  Registration register_service(std::string_view class_key,
                                std::optional<std::string> instance_name = std::nullopt);
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

 protected:
  /// Sends `message` to the Supervisor and waits for the reply.
  template <class Result, class... Ts>
  Result call(caf::duration timeout, Ts&&... message) {
    return ask<Result>(supervisor_, timeout, std::forward<Ts>(message)...);
  }

  /// Sends `message` to `destination` and waits up to `timeout` for the
  /// reply; a failure is thrown as processpype::Error.
  template <class Result, class... Ts>
  Result ask(const caf::actor& destination, caf::duration timeout, Ts&&... message) {
    caf::scoped_actor self{system_};
    std::optional<Error> failure;
    if constexpr (std::is_void_v<Result>) {
      self->request(destination, timeout, std::forward<Ts>(message)...)
          .receive([] {}, [&](caf::error& error) { failure = to_error(error); });
      if (failure) throw *failure;
    } else {
      std::optional<Result> result;
      self->request(destination, timeout, std::forward<Ts>(message)...)
          .receive([&](Result& value) { result = std::move(value); },
                   [&](caf::error& error) { failure = to_error(error); });
      if (failure) throw *failure;
      return std::move(*result);
    }
  }

  caf::actor_system& system_;
  caf::actor supervisor_;
  caf::duration timeout_;
  caf::duration lifecycle_timeout_;
};

}  // namespace processpype
