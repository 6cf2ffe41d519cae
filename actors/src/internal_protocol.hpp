#pragma once

// The messages actors of one node send each other and themselves, never
// another node: the internal parts of the Supervisor's interface and the
// service actor's interface (the public ones are in protocol.hpp).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/fwd.hpp>

#include "processpype/actors/protocol.hpp"
#include "processpype/runtime/restart_policy.hpp"

namespace processpype {

using changed_atom = caf::atom_constant<caf::atom("changed")>;
using waiting_atom = caf::atom_constant<caf::atom("waiting")>;
using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;
using resume_atom = caf::atom_constant<caf::atom("resume")>;
using fail_atom = caf::atom_constant<caf::atom("fail")>;
using restart_atom = caf::atom_constant<caf::atom("restart")>;
using timer_atom = caf::atom_constant<caf::atom("timer")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using health_atom = caf::atom_constant<caf::atom("health")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using checked_atom = caf::atom_constant<caf::atom("checked")>;
using late_atom = caf::atom_constant<caf::atom("late")>;
using committed_atom = caf::atom_constant<caf::atom("committed")>;

/// A callback to run inside a service actor (Service::every).
using Tick = std::function<void()>;

/// The Supervisor with the messages its service actors and the node's start
/// send it:
///
/// | message                                         | meaning                          |
/// | ----------------------------------------------- | -------------------------------- |
/// | (changed_atom, ServiceState, cause, supervised) | the sender's instance entered a  |
/// |                                                 | state (configured, running,      |
/// |                                                 | stopped, error); `supervised`:   |
/// |                                                 | an error that is a failure       |
/// | (waiting_atom)                                  | the sender's restart waits for a |
/// |                                                 | dependency to run                |
/// | (committed_atom, ticket, failure)               | the state file wrote the change  |
/// |                                                 | `ticket` (failure none), or      |
/// |                                                 | could not (StateCommits)         |
/// | (restore_atom, instances, file_names)           | restore_atom (protocol.hpp) at   |
/// |                                                 | a node's start, with the names   |
/// |                                                 | the application file and         |
/// |                                                 | ENABLED_SERVICES give: a         |
/// |                                                 | request instance deregistered    |
/// |                                                 | under one leaves a tombstone     |
/// |                                                 | (docs/state.md); replies the     |
/// |                                                 | count registered                 |
using InternalSupervisorActor =
    SupervisorActor::extend<caf::reacts_to<changed_atom, ServiceState, EventCause, bool>,
                            caf::reacts_to<waiting_atom>,
                            caf::reacts_to<committed_atom, std::uint64_t, caf::error>,
                            caf::replies_to<restore_atom, std::vector<RestoredInstance>,
                                            std::vector<std::string>>::with<std::uint64_t>>;

/// One service instance (docs/architecture.md). Commands come from the
/// Supervisor, which delegates them, so replies go to the original caller.
///
/// | message                                         | reply / meaning                  |
/// | ----------------------------------------------- | -------------------------------- |
/// | (configure_atom, json, Trigger)                 | ServiceState                     |
/// | (start_atom, Trigger)                           | ServiceState once running        |
/// | (stop_atom, Trigger)                            | StopResult once stopped          |
/// | (stop_atom, Trigger, within)                    | the same, the manager's stop     |
/// |                                                 | timeout capped at `within`       |
/// | (shutdown_atom, Trigger)                        | stop error text ("" if none):    |
/// |                                                 | stop for deregistration          |
/// | (route_atom, RouteRequest)                      | RouteResponse                    |
/// | (resume_atom)                                   | a dependency runs again: start   |
/// |                                                 | if a restart or a dependency     |
/// |                                                 | stop left the service waiting    |
/// | (fail_atom, reason, cause)                      | a failure at run time            |
/// | (restart_atom, generation)                      | the restart delay passed         |
/// | (timer_atom, interval, Tick)                    | Service::every                   |
/// | (tick_atom, generation, index)                  | a timer of Service::every fires  |
/// | (health_atom, generation)                       | time for a health check          |
/// | (done_atom, call, failure)                      | a manager call returned          |
/// | (checked_atom, call, ok, detail)                | a health check returned          |
/// | (late_atom, call)                               | a manager call outlived its      |
/// |                                                 | timeout (it still runs)          |
/// | (committed_atom, ticket, failure)               | the ChangeWriter wrote (or could |
/// |                                                 | not write) the change `ticket`   |
using ServiceActor = caf::typed_actor<
    caf::replies_to<configure_atom, nlohmann::json, Trigger>::with<ServiceState>,
    caf::replies_to<start_atom, Trigger>::with<ServiceState>,
    caf::replies_to<stop_atom, Trigger>::with<StopResult>,
    caf::replies_to<stop_atom, Trigger, caf::timespan>::with<StopResult>,
    caf::replies_to<shutdown_atom, Trigger>::with<std::string>,
    caf::replies_to<route_atom, RouteRequest>::with<RouteResponse>, caf::reacts_to<resume_atom>,
    caf::reacts_to<fail_atom, std::string, EventCause>, caf::reacts_to<restart_atom, std::uint64_t>,
    caf::reacts_to<timer_atom, caf::timespan, Tick>,
    caf::reacts_to<tick_atom, std::uint64_t, std::uint64_t>,
    caf::reacts_to<health_atom, std::uint64_t>,
    caf::reacts_to<done_atom, std::uint64_t, std::string>,
    caf::reacts_to<checked_atom, std::uint64_t, bool, std::string>,
    caf::reacts_to<late_atom, std::uint64_t>,
    caf::reacts_to<committed_atom, std::uint64_t, caf::error>>;

/// What survives a service actor that dies: its restart bookkeeping.
struct RestartState {
  RestartTracker tracker;
};

}  // namespace processpype

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(processpype::Tick)
