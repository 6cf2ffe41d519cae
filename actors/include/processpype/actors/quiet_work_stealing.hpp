#pragma once

#include <caf/fwd.hpp>

namespace processpype {

/// Makes the actor system of `config` schedule its actors as CAF 0.17's
/// work-stealing scheduler does, with the same settings
/// (`work-stealing.*`), except for how idle workers sleep.
///
/// CAF's idle worker wakes every `relaxed-sleep-duration` to steal: work
/// that a busy worker queues for itself wakes nobody, so the timer is what
/// bounds how long one busy actor can hold up the others (the processpype
/// binary sets it to 1 ms). An idle node then still wakes a thousand times a
/// second per worker. Here a worker keeps that timer while anything runs,
/// and sleeps until woken once no worker has taken a job for 10 of its
/// rounds and none is running one; work queued by a running worker then
/// wakes it (docs/performance.md, "Idle workers").
void use_quiet_work_stealing(caf::actor_system_config& config);

}  // namespace processpype
