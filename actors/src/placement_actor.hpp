#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/fwd.hpp>

#include "processpype/actors/busy_managers.hpp"
#include "processpype/actors/cluster.hpp"
#include "processpype/actors/node_directory.hpp"
#include "processpype/actors/protocol.hpp"
#include "processpype/actors/status_replicas.hpp"
#include "processpype/runtime/events.hpp"

namespace processpype {

using acquired_atom = caf::atom_constant<caf::atom("acquired")>;
using release_atom = caf::atom_constant<caf::atom("release")>;
using lease_atom = caf::atom_constant<caf::atom("lease")>;
using lost_atom = caf::atom_constant<caf::atom("lost")>;
using joined_atom = caf::atom_constant<caf::atom("joined")>;
using written_atom = caf::atom_constant<caf::atom("written")>;
using poll_atom = caf::atom_constant<caf::atom("poll")>;
using conflict_atom = caf::atom_constant<caf::atom("conflict")>;
using files_atom = caf::atom_constant<caf::atom("files")>;
using logged_atom = caf::atom_constant<caf::atom("logged")>;
using returned_atom = caf::atom_constant<caf::atom("returned")>;

/// The ClusterActor with what the Coordinator's callbacks and the actor's
/// own timers send it (local only):
///
/// | message                                         | meaning                          |
/// | ----------------------------------------------- | -------------------------------- |
/// | (acquired_atom, Acquisition)                    | this node owns the instance:     |
/// |                                                 | register, configure, start it    |
/// | (release_atom, name, cause)                     | hand it over: stop, drop, release|
/// | (lease_atom, LeaseEvent)                        | at risk: stop by lost_at; secure |
/// |                                                 | again: start; lost: exit 70 if   |
/// |                                                 | anything still runs              |
/// | (lost_atom, name, cause)                        | it is owned no more: drop it     |
/// | (joined_atom, id, node address)                 | a node registered: connect to it |
/// | (written_atom, ticket, WriteResult)             | a store write answered           |
/// | (poll_atom)                                     | registrations waiting for owners |
/// | (conflict_atom, reason)                         | this node's id is taken: exit 2  |
/// | (files_atom)                                    | create the file's records that   |
/// |                                                 | are not created yet              |
/// | (logged_atom)                                   | the event log grew: withdraw the |
/// |                                                 | declines whose node instance is  |
/// |                                                 | gone                             |
/// | (returned_atom, name)                           | the manager of a handed-over or  |
/// |                                                 | deleted instance returned:       |
/// |                                                 | release it                       |
using PlacementActor =
    ClusterActor::extend<caf::reacts_to<acquired_atom, cluster::Acquisition>,
                         caf::reacts_to<release_atom, std::string, cluster::Cause>,
                         caf::reacts_to<lease_atom, cluster::LeaseEvent>,
                         caf::reacts_to<lost_atom, std::string, cluster::Cause>,
                         caf::reacts_to<joined_atom, std::string, std::string>,
                         caf::reacts_to<written_atom, std::uint64_t, cluster::WriteResult>,
                         caf::reacts_to<poll_atom>, caf::reacts_to<conflict_atom, std::string>,
                         caf::reacts_to<files_atom>, caf::reacts_to<logged_atom>,
                         caf::reacts_to<returned_atom, std::string>>;

/// What the ClusterActor works with.
struct PlacementSetup {
  std::shared_ptr<cluster::Coordinator> coordinator;
  SupervisorActor supervisor;
  NodeActor node;
  std::shared_ptr<const InstanceTable> table;
  /// The node's events: a deregistration may end a decline.
  std::shared_ptr<EventLog> events;
  std::shared_ptr<StatusReplicas> replicas;
  std::shared_ptr<NodeDirectory> directory;
  /// A handed-over or deleted instance is released once its manager's call
  /// returned.
  std::shared_ptr<BusyManagers> busy_managers;
  std::string node_id;
  /// How long a registration waits for the instance's owner to register it.
  std::chrono::milliseconds registration_wait{5000};
  std::vector<FileClusterInstance> file_instances;
};

/// Spawns the node's ClusterActor (protocol.hpp): it carries out what the
/// Coordinator decides (docs/cluster.md).
PlacementActor spawn_placement_actor(caf::actor_system& system, PlacementSetup setup);

/// The Coordinator's callbacks as messages to the actor `*actor`, which is
/// set before the Coordinator starts.
cluster::CoordinatorCallbacks placement_callbacks(std::shared_ptr<PlacementActor> actor);

}  // namespace processpype

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(processpype::cluster::Acquisition)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(processpype::cluster::LeaseEvent)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(processpype::cluster::Cause)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(processpype::cluster::WriteResult)
