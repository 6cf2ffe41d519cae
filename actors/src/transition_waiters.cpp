#include "transition_waiters.hpp"

#include <type_traits>

#include <caf/all.hpp>

namespace processpype {

void TransitionWaiters::answer_start(const std::optional<Error>& error, ServiceState state) {
  for (auto& promise : std::exchange(start_waiters_, {})) {
    if (error)
      promise.deliver(make_error(*error));
    else
      promise.deliver(state);
  }
}

void TransitionWaiters::answer_stop(const std::optional<Error>& error, ServiceState state) {
  for (auto& waiter : std::exchange(stop_waiters_, {})) deliver_stop(waiter, error, state);
}

void TransitionWaiters::run_routes(ServiceLifecycle& lifecycle) {
  if (is_transitioning(lifecycle.state())) return;
  for (auto& [request, promise] : std::exchange(routes_, {}))
    promise.deliver(lifecycle.routes().dispatch(request));
}

void TransitionWaiters::abandon(const caf::error& error) {
  for (auto& promise : std::exchange(start_waiters_, {})) promise.deliver(error);
  for (auto& waiter : std::exchange(stop_waiters_, {}))
    std::visit([&](auto& promise) { promise.deliver(error); }, waiter.promise);
  for (auto& [request, promise] : std::exchange(routes_, {})) promise.deliver(error);
}

void TransitionWaiters::deliver_stop(StopWaiter& waiter, const std::optional<Error>& error,
                                     ServiceState state) {
  std::visit(
      [&](auto& promise) {
        using Promise = std::decay_t<decltype(promise)>;
        if constexpr (std::is_same_v<Promise, TextPromise>)
          promise.deliver(error ? error->detail() : std::string{});
        else if (error)
          promise.deliver(make_error(*error));
        else
          promise.deliver(StopResult{state, waiter.warning});
      },
      waiter.promise);
}

}  // namespace processpype
