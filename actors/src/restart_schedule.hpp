#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

#include "internal_protocol.hpp"
#include "processpype/actors/instance_table.hpp"
#include "processpype/runtime/lifecycle.hpp"

namespace processpype {

/// When a failed instance starts again (docs/supervision.md, "Restart
/// policy"): the policy's decision (RestartTracker, which outlives the
/// actor in RestartState), the restart timer, and a restart that waits for
/// the instance's dependencies to run (docs/supervision.md,
/// "Dependencies"). A timer set earlier is ignored once a later one is set
/// or the restart is cancelled (its generation is past).
class RestartSchedule {
 public:
  using Clock = RestartTracker::Clock;

  /// What a restart timer that fires means.
  enum class Due {
    no,                  ///< a timer of the past, or the service left `error`
    after_dependencies,  ///< the restart waits for dependencies to run (no failure)
    now,
  };

  RestartSchedule(ServiceActor::pointer self, const ServiceLifecycle& lifecycle,
                  std::shared_ptr<RestartState> state, std::shared_ptr<const InstanceTable> table)
      : self_(self), lifecycle_(lifecycle), state_(std::move(state)), table_(std::move(table)) {}

  /// A failure the lifecycle has just recorded, at `now`: the policy's
  /// decision. Unless it gives up, a restart is due after its delay, which
  /// runs from the failure's event on: arm() sets the timer then.
  RestartTracker::Decision schedule(Clock::time_point now);
  /// Whether the policy gave up with the failure scheduled last and its
  /// event has not said so yet; true once (the event's Event::gave_up).
  bool take_give_up() { return std::exchange(gave_up_unpublished_, false); }
  /// Sets the timer of the restart scheduled last, once.
  void arm();
  /// The restart timer of `generation` fired.
  Due on_timer(std::uint64_t generation);
  /// A dependency runs again: whether the restart that waited for
  /// dependencies is due now (it waits no more then).
  bool on_dependency_running();
  /// Forgets a pending restart, or one that waits for dependencies; returns
  /// whether there was one.
  bool cancel();

  /// A restart is being made at `now`.
  void on_restart(Clock::time_point now) { state_->tracker.on_restart(now); }
  void on_running(Clock::time_point now) { state_->tracker.on_running(now); }
  void on_stopped() { state_->tracker.on_stopped(); }

  /// Automatic restarts since registration.
  std::uint64_t restarts() const { return state_->tracker.restarts(); }
  /// When the pending restart is due, if one is.
  std::optional<Clock::time_point> next_restart_at() const { return next_restart_at_; }

 private:
  bool dependencies_run() const;

  ServiceActor::pointer self_;
  const ServiceLifecycle& lifecycle_;
  std::shared_ptr<RestartState> state_;
  std::shared_ptr<const InstanceTable> table_;  ///< to see the dependencies' states
  std::uint64_t generation_ = 0;
  std::optional<Clock::time_point> next_restart_at_;
  std::optional<Clock::duration> delay_to_arm_;
  bool waiting_for_dependencies_ = false;
  bool gave_up_unpublished_ = false;
};

}  // namespace processpype
