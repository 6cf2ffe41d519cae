#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "processpype/actors/protocol.hpp"

namespace processpype {

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
