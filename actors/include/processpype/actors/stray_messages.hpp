#pragma once

#include <caf/error.hpp>
#include <caf/scheduled_actor.hpp>

namespace processpype {

/// Makes `self` drop what it cannot handle instead of ending: a message no
/// handler matches (a stray one, or one from a peer of another version) and
/// an error message nobody asked for (CAF ends an actor on those, e.g. one
/// bounced from a peer that went away). Every actor of a node calls it in
/// its constructor: no message may end a node.
inline void drop_stray_messages(caf::scheduled_actor& self) {
  self.set_default_handler(caf::drop);
  self.set_error_handler([](caf::error&) {});
}

}  // namespace processpype
