#pragma once

// The node's own alerts (docs/communications.md, "Alerts"): an actor that
// follows the EventLog and the NodeDirectory and emits label `alerts`
// through the node's Dispatcher, apart from the Supervisor, which stays
// about supervision.

#include <chrono>
#include <memory>
#include <string>

#include <caf/fwd.hpp>
#include <caf/typed_actor.hpp>

#include "processpype/actors/node_directory.hpp"
#include "processpype/actors/protocol.hpp"
#include "processpype/communications/dispatcher.hpp"
#include "processpype/runtime/events.hpp"

namespace processpype {

using node_down_atom = caf::atom_constant<caf::atom("node_down")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;

/// | message                          | reply / meaning                        |
/// | -------------------------------- | -------------------------------------- |
/// | (publish_atom)                   | events were appended: read them        |
/// | (node_down_atom, id, reason)     | a member was lost (not one that left)  |
/// | (flush_atom)                     | bool, once every event appended before |
/// |                                  | it was read and its alert emitted      |
using AlertSourceActor = caf::typed_actor<caf::reacts_to<publish_atom>,
                                          caf::reacts_to<node_down_atom, std::string, std::string>,
                                          caf::replies_to<flush_atom>::with<bool>>;

struct AlertSourceSetup {
  std::shared_ptr<EventLog> events;
  std::shared_ptr<NodeDirectory> directory;
  /// Weak: the Runtime owns it, and ends it when it ends.
  std::weak_ptr<communications::Dispatcher> dispatcher;
  /// At most one alert per source this often; a give-up always goes.
  std::chrono::milliseconds min_interval{std::chrono::seconds(60)};
  /// Events up to this seq happened before alerts were on.
  std::uint64_t after = 0;
  /// How late a member's death may be noticed (node.down_after_seconds): a
  /// reporter found down this soon after the node it was to report may
  /// have died with it, and the report falls to the next up node.
  std::chrono::milliseconds down_after{std::chrono::seconds(5)};
};

/// Spawns the node's alert source. It sends, label `alerts` and severity
/// `error`: an instance failure (an `error` event), a give-up (an `error`
/// event with Event::gave_up, never throttled), a failover (the first event
/// of an instance with cause `failover`) and a member lost (down for
/// another reason than leaving), this last only when this node is the up
/// node with the smallest id, so that the cluster reports it once (twice at
/// worst when that reporter is lost within twice down_after). The
/// EventLog's and the NodeDirectory's listeners only wake it: they run on
/// the threads that append events and mark nodes down.
AlertSourceActor spawn_alert_source(caf::actor_system& system, AlertSourceSetup setup);

}  // namespace processpype
