#pragma once

#include <memory>

#include "internal_protocol.hpp"
#include "processpype/actors/instance_table.hpp"
#include "processpype/runtime/events.hpp"
#include "processpype/runtime/lifecycle.hpp"
#include "restart_schedule.hpp"

namespace processpype {

/// Whether a failure is supervised (the restart policy applies, the
/// Supervisor hears of it): a failed start or a failure at run time is; a
/// failed stop is not.
enum class Supervised : bool { no, yes };

/// What a service actor tells others of its instance, always before it
/// replies to the command that changed it: the view readers see in the
/// InstanceTable (status, configuration, restarts), the counters, the
/// event log, and what concerns the Supervisor, which keeps the dependency
/// graph.
class InstancePublisher {
 public:
  InstancePublisher(ServiceActor::pointer self, const ServiceLifecycle& lifecycle, RecordPtr record,
                    std::shared_ptr<EventLog> events, InternalSupervisorActor supervisor,
                    const RestartSchedule& restarts)
      : self_(self),
        lifecycle_(lifecycle),
        record_(std::move(record)),
        events_(std::move(events)),
        supervisor_(std::move(supervisor)),
        restarts_(restarts) {}

  /// Describes the lifecycle's configuration anew for the views, noting
  /// whether its dependencies changed (the Supervisor hears of it with the
  /// next `configured`).
  void refresh_configuration();
  /// Publishes the instance's view as it is now.
  void publish_view();
  /// The instance entered the lifecycle's current state: publishes the
  /// view, counts the transition and logs its event (`gave_up`:
  /// Event::gave_up).
  void publish_state(const Trigger& trigger, bool gave_up = false);
  /// Counts a failure.
  void count_failure();

  /// Tells the Supervisor of the state just published, if it concerns it:
  /// new dependencies, or an instance with dependents that runs or fails
  /// (`failure`).
  void tell_supervisor(EventCause cause, Supervised failure);
  /// Tells the Supervisor that the restart waits for a dependency to run.
  void tell_waiting();
  /// Drops the handle of the Supervisor, which holds this actor's handle:
  /// CAF frees neither actor's state while the other's handle lives.
  void release_supervisor() { supervisor_ = InternalSupervisorActor{}; }
  /// The node's event log (it knows the node's id).
  const std::shared_ptr<EventLog>& events() const { return events_; }

 private:
  bool concerns_supervisor(ServiceState state, Supervised failure);

  ServiceActor::pointer self_;
  const ServiceLifecycle& lifecycle_;
  RecordPtr record_;
  std::shared_ptr<EventLog> events_;
  InternalSupervisorActor supervisor_;
  const RestartSchedule& restarts_;
  std::shared_ptr<const ConfigurationView> configuration_view_;
  bool dependencies_changed_ = false;
};

}  // namespace processpype
