#include "restart_schedule.hpp"

#include <caf/all.hpp>

namespace processpype {

RestartTracker::Decision RestartSchedule::schedule(Clock::time_point now) {
  auto decision = state_->tracker.on_failure(lifecycle_.configuration(), now);
  gave_up_unpublished_ = decision.give_up;
  if (decision.give_up) return decision;
  next_restart_at_ = now + decision.delay;
  delay_to_arm_ = decision.delay;
  return decision;
}

void RestartSchedule::arm() {
  if (auto delay = std::exchange(delay_to_arm_, std::nullopt))
    self_->delayed_send(self_, *delay, restart_atom::value, ++generation_);
}

RestartSchedule::Due RestartSchedule::on_timer(std::uint64_t generation) {
  if (generation != generation_ || lifecycle_.state() != ServiceState::error) return Due::no;
  next_restart_at_.reset();
  if (!dependencies_run()) {
    waiting_for_dependencies_ = true;
    return Due::after_dependencies;
  }
  return Due::now;
}

bool RestartSchedule::on_dependency_running() {
  if (!waiting_for_dependencies_ || lifecycle_.state() != ServiceState::error) return false;
  if (!dependencies_run()) return false;
  waiting_for_dependencies_ = false;
  return true;
}

bool RestartSchedule::cancel() {
  if (!next_restart_at_ && !waiting_for_dependencies_) return false;
  ++generation_;
  next_restart_at_.reset();
  waiting_for_dependencies_ = false;
  return true;
}

bool RestartSchedule::dependencies_run() const {
  for (const auto& dependency : lifecycle_.configuration().depends_on) {
    auto record = table_->find(dependency);
    if (!record || record->state() != ServiceState::running) return false;
  }
  return true;
}

}  // namespace processpype
