#include "instance_publisher.hpp"

#include <caf/all.hpp>

namespace processpype {

void InstancePublisher::refresh_configuration() {
  const auto& configuration = lifecycle_.configuration();
  // The first description, as the actor starts, is no change.
  dependencies_changed_ =
      configuration_view_ && configuration_view_->depends_on != configuration.depends_on;
  configuration_view_ = describe_configuration(lifecycle_, *record_);
}

void InstancePublisher::publish_view() {
  const auto& status = lifecycle_.status();
  auto view = std::make_shared<ServiceView>();
  view->state = status.state;
  view->error = status.error;
  view->configuration = configuration_view_;
  view->health = status.health;
  view->restarts = restarts_.restarts();
  view->next_restart_at = restarts_.next_restart_at();
  record_->publish(std::move(view));
}

void InstancePublisher::publish_state(const Trigger& trigger, bool gave_up) {
  auto state = lifecycle_.state();
  if (state == ServiceState::running) record_->mark_running();
  publish_view();
  record_->counters().transitions[static_cast<std::size_t>(state)].fetch_add(
      1, std::memory_order_relaxed);
  // An event's error is the error of that state (a start keeps the old
  // status.error until it succeeds, but its `starting` has none).
  events_->append(lifecycle_.name(), to_string(state),
                  state == ServiceState::error ? lifecycle_.status().error : "", trigger, gave_up);
}

void InstancePublisher::count_failure() {
  record_->counters().failures.fetch_add(1, std::memory_order_relaxed);
}

void InstancePublisher::tell_supervisor(EventCause cause, Supervised failure) {
  auto state = lifecycle_.state();
  if (concerns_supervisor(state, failure))
    self_->send(supervisor_, changed_atom::value, state, cause, failure == Supervised::yes);
}

void InstancePublisher::tell_waiting() {
  self_->send(supervisor_, waiting_atom::value);
}

bool InstancePublisher::concerns_supervisor(ServiceState state, Supervised failure) {
  if (state == ServiceState::configured) return std::exchange(dependencies_changed_, false);
  bool relevant = state == ServiceState::running ||
                  (state == ServiceState::error && failure == Supervised::yes);
  return relevant && record_->has_dependents();
}

}  // namespace processpype
