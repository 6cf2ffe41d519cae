#pragma once

#include "processpype/runtime/outgoing_message.hpp"

namespace processpype::communications {

/// A message for people: it goes to every enabled backend whose labels
/// contain its label (docs/communications.md). The runtime's type, so that
/// what a service emits reaches the Dispatcher without a copy.
using Message = OutgoingMessage;

}  // namespace processpype::communications
