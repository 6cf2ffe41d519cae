#pragma once

#include <memory>

#include <caf/all.hpp>

#include "processpype/runtime/lifecycle.hpp"

namespace processpype {

/// Spawns the actor that runs one service instance (protocol.hpp: the
/// service actor interface). It reports every status change to
/// `supervisor` and runs manager calls through `executor`. Spawned lazily:
/// an idle instance costs no behavior until its first message.
caf::actor spawn_service_actor(caf::actor_system& system,
                               std::shared_ptr<ServiceLifecycle> lifecycle, caf::actor supervisor,
                               caf::actor executor);

}  // namespace processpype
