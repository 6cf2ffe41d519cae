#pragma once

#include <caf/all.hpp>

namespace processpype {

/// Spawns the node's ManagerExecutor: an actor that answers
/// (run_hook_atom, ManagerCall) → std::string (failure text, "" if none)
/// after running the hook on one of its own threads.
///
/// Why threads of its own: ServiceManager::start/stop may block for seconds
/// (or forever). On CAF's scheduler that would stall every actor sharing the
/// worker; here a blocked call holds one thread of a pool that grows when no
/// thread is idle, and idle threads beyond a few exit after a while. The
/// caller's request timeout bounds how long it waits; a call that never
/// returns keeps its thread, nothing else.
caf::actor spawn_manager_executor(caf::actor_system& system);

}  // namespace processpype
