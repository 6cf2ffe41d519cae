#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>

#include <caf/fwd.hpp>

#include "processpype/actors/busy_managers.hpp"
#include "processpype/actors/instance_table.hpp"
#include "processpype/actors/protocol.hpp"
#include "processpype/communications/dispatcher.hpp"
#include "processpype/runtime/events.hpp"
#include "processpype/state/state_store.hpp"

namespace processpype {

/// Names that node instances may not take: those of cluster instances
/// (docs/cluster.md). Empty until the node joins a cluster; any thread.
class ReservedNames {
 public:
  using Check = std::function<bool(std::string_view name)>;

  void set(Check check) { check_.store(std::make_shared<const Check>(std::move(check))); }
  bool reserved(std::string_view name) const {
    auto check = check_.load();
    return check && (*check)(name);
  }

 private:
  std::atomic<std::shared_ptr<const Check>> check_;
};

/// What a node's Supervisor works with.
struct SupervisorSetup {
  std::shared_ptr<InstanceTable> table;
  std::shared_ptr<EventLog> events;
  ApplicationInfo application;
  /// Registrations beyond this many instances are refused (409).
  std::size_t max_instances = 100000;
  /// The node's state file (docs/state.md); null: nothing is persisted.
  std::shared_ptr<state::StateStore> state;
  /// Names of cluster instances, refused to node instances (409).
  std::shared_ptr<const ReservedNames> reserved_names;
  /// Where services' emit() sends (docs/communications.md); empty: nowhere.
  std::weak_ptr<communications::Dispatcher> messages{};
  /// Whose manager is in a call; shared with the node's cluster actor
  /// (null: the Supervisor keeps its own).
  std::shared_ptr<BusyManagers> busy_managers{};
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
