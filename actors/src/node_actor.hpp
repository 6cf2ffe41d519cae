#pragma once

#include <memory>
#include <string>

#include <caf/all.hpp>

#include "processpype/actors/node_directory.hpp"

namespace processpype {

/// Spawns the process's Node actor (protocol.hpp: the node interface): the
/// one other nodes talk to when they join, which keeps the membership and
/// `directory` current and monitors every peer.
caf::actor spawn_node_actor(caf::actor_system& system, std::string id, caf::actor supervisor,
                            std::shared_ptr<NodeDirectory> directory);

}  // namespace processpype
