#pragma once

#include <memory>

#include <caf/fwd.hpp>

#include "processpype/actors/protocol.hpp"
#include "processpype/runtime/events.hpp"

namespace processpype {

/// Spawns a node's EventFeed (protocol.hpp): subscribers, local or on other
/// nodes, get a replay of what `log` holds after a seq, then every new event
/// in batches. Appends wake the feed only while it has subscribers, and at
/// most once per batch, so events cost little when nobody follows them.
EventFeedActor spawn_event_feed(caf::actor_system& system, std::shared_ptr<EventLog> log);

}  // namespace processpype
