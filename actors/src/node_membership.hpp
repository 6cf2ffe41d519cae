#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "internal_protocol.hpp"
#include "processpype/actors/protocol.hpp"

// What the Node actor's parts share (node_actor.cpp, node_dialler.hpp,
// node_census.hpp).

namespace processpype {

/// The Node actor with its timer, (tick_atom) every heartbeat interval.
using TickingNodeActor = NodeActor::extend<caf::reacts_to<tick_atom>>;

/// Bounds each step of a dial (the connection with its handshakes, then the
/// hello) and every other request to a peer.
constexpr auto peer_timeout = std::chrono::seconds(5);

enum class MemberState {
  unreached,  ///< named by a member but never reached: not listed yet
  up,
  down,
};

/// Another node of the cluster, as the Node actor knows it
/// (docs/membership.md).
struct Member {
  using Clock = std::chrono::steady_clock;

  std::string address;
  MemberState state = MemberState::unreached;
  NodeInfo info;                 ///< as it last introduced itself
  bool monitored = false;        ///< a monitor on info.node is in place
  std::uint64_t services = 0;    ///< last known instance count
  Clock::time_point last_heard;  ///< up: its last heartbeat (or hello)
  Clock::time_point since;       ///< down or unreached: since when
  Clock::time_point next_dial;   ///< down or unreached: when to dial it
  Clock::duration backoff{};     ///< the wait after that dial
};

}  // namespace processpype
