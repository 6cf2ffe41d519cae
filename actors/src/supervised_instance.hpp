#pragma once

#include <memory>
#include <string>
#include <vector>

#include "change_writer.hpp"
#include "internal_protocol.hpp"
#include "processpype/actors/instance_table.hpp"
#include "processpype/runtime/lifecycle.hpp"

namespace processpype {

/// What the Supervisor keeps of one registered instance.
struct SupervisedInstance {
  std::string name;
  RecordPtr record;
  /// Spawned on the first command: until then the instance is just `idle`,
  /// which keeps an idle instance small and a registration cheap.
  ServiceActor actor;
  std::shared_ptr<ServiceLifecycle> idle;
  std::shared_ptr<RestartState> restarts = std::make_shared<RestartState>();
  /// Where users' changes are written: a cluster instance's record
  /// (docs/cluster.md) or the node's state file (docs/state.md), made with
  /// the first actor and kept for those that replace it; null: nowhere.
  std::shared_ptr<ChangeWriter> writer;
  std::vector<std::string> depends_on;  ///< as last configured
  bool removing = false;
  /// Registered by a request whose change the state file is writing: not
  /// there yet for commands (docs/state.md).
  bool registering = false;
  /// Restored at the node's start (docs/state.md): an embedding program
  /// that registers it again with the same class gets it back.
  bool restored = false;
  bool stopped_by_dependency = false;  ///< a dependency's failure stopped it
  bool waits_for_dependency = false;   ///< its restart waits for a dependency
};

}  // namespace processpype
