#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <caf/typed_response_promise.hpp>

#include "processpype/actors/protocol.hpp"
#include "processpype/runtime/lifecycle.hpp"

namespace processpype {

/// Who waits for the transition under way (docs/architecture.md, "The
/// transition path"): the callers of a start or a stop, answered when it
/// ends, and routes, which run between transitions, never during one.
class TransitionWaiters {
 public:
  using StatePromise = caf::typed_response_promise<ServiceState>;
  using StopPromise = caf::typed_response_promise<StopResult>;
  using TextPromise = caf::typed_response_promise<std::string>;
  using RoutePromise = caf::typed_response_promise<RouteResponse>;
  /// A caller waiting for a stop: a command wants the state (and the
  /// warning of its write to the state file, if it could not be written), a
  /// deregistration the stop's error as text.
  struct StopWaiter {
    std::variant<StopPromise, TextPromise> promise;
    std::string warning;
  };

  void wait_for_start(StatePromise promise) { start_waiters_.push_back(std::move(promise)); }
  void wait_for_stop(StopWaiter waiter) { stop_waiters_.push_back(std::move(waiter)); }
  /// A stop that came while the service started: it runs once the start
  /// ended (take_stop_after_start).
  void stop_after_start(Trigger trigger) { stop_after_start_ = std::move(trigger); }
  void hold_route(RouteRequest request, RoutePromise promise) {
    routes_.emplace_back(std::move(request), std::move(promise));
  }

  /// The start ended: answers its callers with `error`, or else `state`.
  void answer_start(const std::optional<Error>& error, ServiceState state);
  /// The trigger of a stop that waited for the start to end, if one did; its
  /// callers are take_stop_waiters().
  std::optional<Trigger> take_stop_after_start() {
    return std::exchange(stop_after_start_, std::nullopt);
  }
  std::vector<StopWaiter> take_stop_waiters() { return std::exchange(stop_waiters_, {}); }
  /// The stop ended: answers its callers with `error`, or else `state`.
  void answer_stop(const std::optional<Error>& error, ServiceState state);
  /// Runs the routes that waited, unless `lifecycle` is in a transition.
  void run_routes(ServiceLifecycle& lifecycle);
  /// Answers everyone still waiting with `error` (the actor ends).
  void abandon(const caf::error& error);

  /// Answers one caller of a stop.
  static void deliver_stop(StopWaiter& waiter, const std::optional<Error>& error,
                           ServiceState state);

 private:
  std::vector<StatePromise> start_waiters_;
  std::vector<StopWaiter> stop_waiters_;
  std::optional<Trigger> stop_after_start_;
  std::vector<std::pair<RouteRequest, RoutePromise>> routes_;
};

}  // namespace processpype
