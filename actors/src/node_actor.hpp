#pragma once

#include <memory>
#include <string>

#include <caf/fwd.hpp>

#include "processpype/actors/node_directory.hpp"
#include "processpype/actors/protocol.hpp"

namespace processpype {

/// Spawns the process's Node actor (protocol.hpp: NodeActor): the one other
/// nodes talk to when they join, which keeps the membership and `directory`
/// current and monitors every peer. `me` describes this node (its `node`
/// handle is filled in by the actor).
NodeActor spawn_node_actor(caf::actor_system& system, NodeInfo me,
                           std::shared_ptr<NodeDirectory> directory);

}  // namespace processpype
