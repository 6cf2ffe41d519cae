#pragma once

#include <memory>

#include <caf/all.hpp>

#include "manager_threads.hpp"
#include "processpype/runtime/lifecycle.hpp"

namespace processpype {

/// Spawns the actor that runs one service instance (protocol.hpp: the
/// service actor interface). It reports every status change to
/// `supervisor` and runs manager calls on `threads`.
caf::actor spawn_service_actor(caf::actor_system& system,
                               std::shared_ptr<ServiceLifecycle> lifecycle, caf::actor supervisor,
                               std::shared_ptr<ManagerThreads> threads);

}  // namespace processpype
