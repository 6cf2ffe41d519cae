#pragma once

#include <memory>
#include <optional>
#include <string>

#include <caf/fwd.hpp>

#include "change_writer.hpp"
#include "internal_protocol.hpp"
#include "manager_threads.hpp"
#include "processpype/actors/busy_managers.hpp"
#include "processpype/actors/instance_table.hpp"
#include "processpype/communications/dispatcher.hpp"
#include "processpype/runtime/events.hpp"
#include "processpype/runtime/lifecycle.hpp"
#include "processpype/state/state_store.hpp"

namespace processpype {

/// Everything a service actor works with.
struct ServiceActorSetup {
  std::shared_ptr<ServiceLifecycle> lifecycle;
  RecordPtr record;
  std::shared_ptr<RestartState> restarts;
  std::shared_ptr<const InstanceTable> table;  ///< to see its dependencies' states
  std::shared_ptr<EventLog> events;
  InternalSupervisorActor supervisor;
  std::shared_ptr<ManagerThreads> threads;
  /// Where its manager's calls on `threads` are counted while they run.
  std::shared_ptr<BusyManagers> busy_managers;
  /// Set when the actor replaces one that died: the failure it inherits
  /// (the lifecycle is in `error` already); it is supervised like any.
  std::optional<std::string> inherited_failure;
  /// Where users' configures, starts and stops are written before they act:
  /// the node's state file (docs/state.md) or a cluster instance's record
  /// (docs/cluster.md); null: nowhere.
  std::shared_ptr<ChangeWriter> writer;
  /// Where Service::emit sends (docs/communications.md); empty: nowhere.
  std::weak_ptr<communications::Dispatcher> messages{};
};

/// Spawns the actor that runs one service instance (internal_protocol.hpp
/// has its interface). It publishes every change of its instance to the
/// record, the event log and the Supervisor before it replies.
ServiceActor spawn_service_actor(caf::actor_system& system, ServiceActorSetup setup);

}  // namespace processpype
