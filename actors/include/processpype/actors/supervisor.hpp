#pragma once

#include <caf/all.hpp>

namespace processpype {

/// Spawns a node's Supervisor (protocol.hpp has its interface).
///
/// It keeps the registry of instances (name → actor, class, status snapshot,
/// registration order), creates and monitors one service actor per instance
/// (on the instance's first command: an idle instance is only its service
/// object) and answers status reads from its snapshot, so a busy service
/// never slows a read. When a service actor dies, the instance stays registered: it is
/// marked `error` with the reason and gets a fresh actor (its last valid
/// configuration re-applied), so later commands work.
///
/// An exit message (e.g. exit_reason::user_shutdown) ends the Supervisor and
/// every actor it spawned.
caf::actor spawn_supervisor(caf::actor_system& system);

}  // namespace processpype
