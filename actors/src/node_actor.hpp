#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <caf/fwd.hpp>

#include "processpype/actors/node_directory.hpp"
#include "processpype/actors/protocol.hpp"

namespace processpype {

/// How the Node actor keeps the membership (RuntimeOptions,
/// docs/membership.md).
struct NodeSettings {
  std::chrono::milliseconds heartbeat_interval = std::chrono::seconds(1);
  std::chrono::milliseconds down_after = std::chrono::seconds(5);
  std::chrono::milliseconds forget_after = std::chrono::hours(1);
  bool tls = false;  ///< dial peers through CAF's OpenSSL module
};

/// Spawns the process's Node actor (protocol.hpp: NodeActor): the one other
/// nodes talk to when they join, which keeps the membership and `directory`
/// current: it exchanges heartbeats with every member, monitors them, and
/// dials the ones it lacks or lost. `me` describes this node (its `node`
/// handle is filled in by the actor).
NodeActor spawn_node_actor(caf::actor_system& system, NodeInfo me,
                           std::shared_ptr<NodeDirectory> directory, NodeSettings settings);

}  // namespace processpype
