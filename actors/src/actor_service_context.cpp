#include "actor_service_context.hpp"

#include <caf/all.hpp>

#include "internal_protocol.hpp"

namespace processpype {

void ActorServiceContext::every(std::chrono::nanoseconds interval, std::function<void()> tick) {
  if (auto actor = caf::actor_cast<ServiceActor>(actor_.lock()))
    caf::anon_send(actor, timer_atom::value, caf::timespan{interval}, Tick{std::move(tick)});
}

void ActorServiceContext::fail(std::string reason) {
  {
    std::lock_guard lock{mutex_};
    if (reported_) return;  // the first report wins until it is applied
    reported_ = std::move(reason);
  }
  if (auto actor = caf::actor_cast<ServiceActor>(actor_.lock()))
    caf::anon_send(actor, fail_atom::value, std::string{}, EventCause::failure);
}

void ActorServiceContext::emit(OutgoingMessage message) {
  auto dispatcher = dispatcher_.lock();
  if (!dispatcher) return;  // no communications (or the Runtime is ending)
  if (message.source.empty()) message.source = instance_;
  dispatcher->emit(std::move(message));
}

std::optional<std::string> ActorServiceContext::take_reported() {
  std::lock_guard lock{mutex_};
  return std::exchange(reported_, std::nullopt);
}

}  // namespace processpype
