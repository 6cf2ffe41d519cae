#pragma once

#include <cstddef>
#include <memory>

#include <caf/fwd.hpp>

#include "processpype/actors/instance_table.hpp"
#include "processpype/actors/protocol.hpp"
#include "processpype/communications/dispatcher.hpp"
#include "processpype/runtime/events.hpp"
#include "processpype/state/state_store.hpp"

namespace processpype {

/// What a node's Supervisor works with.
struct SupervisorSetup {
  std::shared_ptr<InstanceTable> table;
  std::shared_ptr<EventLog> events;
  ApplicationInfo application;
  /// Registrations beyond this many instances are refused (409).
  std::size_t max_instances = 100000;
  /// The node's state file (docs/state.md); null: nothing is persisted.
  std::shared_ptr<state::StateStore> state;
  /// Where services' emit() sends (docs/communications.md); empty: nowhere.
  std::weak_ptr<communications::Dispatcher> messages{};
};

/// Spawns a node's Supervisor (protocol.hpp has its interface).
///
/// It keeps the registry of instances and publishes it in `table`, creates
/// and monitors one service actor per instance (on the instance's first
/// command: an idle instance is only its service object), refuses starts
/// whose dependencies do not run, stops dependents before what they depend
/// on, and restarts dependents that a failure stopped once their dependency
/// runs again (docs/supervision.md). When a service actor dies, the
/// instance stays registered: it is marked `error` with the reason, gets a
/// fresh actor (its last valid configuration re-applied) and is supervised
/// like any failure.
///
/// An exit message (e.g. exit_reason::user_shutdown) ends the Supervisor and
/// every actor it spawned.
SupervisorActor spawn_supervisor(caf::actor_system& system, SupervisorSetup setup);

}  // namespace processpype
