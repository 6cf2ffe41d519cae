#pragma once

// When a node renews its lease and when it must consider it lost
// (docs/cluster.md, "Leases and timing"). Pure arithmetic, on BootClock.
//
// Let T be the moment the node *sent* the last renewal that etcd answered
// with a TTL. etcd restarts the lease's countdown when it receives the
// renewal, after T, so the lease lives at least until T + TTL on etcd's
// clock. The node counts it as lost at T + lease − margin, margin =
// max(0.5 s, lease/4), which leaves room for clocks that run at slightly
// different rates and for scheduling delays. It tells its instances to
// stop `stop_allowance` before that (the node caps their stop timeouts to
// fit).

#include <chrono>
#include <cstdint>

#include "processpype/cluster/boot_clock.hpp"

namespace processpype::cluster {

class LeaseTiming {
 public:
  /// Throws std::invalid_argument when `lease` is below 2 s, or
  /// `stop_allowance` (0: the default, the margin) leaves no renewal
  /// between the last confirmed one and the warning (it must not exceed
  /// lost_after() − renewal_period()).
  explicit LeaseTiming(std::chrono::seconds lease,
                       std::chrono::milliseconds stop_allowance = std::chrono::milliseconds(0));

  std::chrono::seconds lease() const noexcept { return lease_; }
  /// lease / 3: three renewals per lease period.
  std::chrono::milliseconds renewal_period() const noexcept;
  /// The most one renewal may wait for etcd's answer: half a period, so
  /// that a renewal lost to a frozen member leaves time for another.
  std::chrono::milliseconds renewal_timeout() const noexcept;
  /// The wait before the next attempt after a renewal failed.
  std::chrono::milliseconds retry_interval() const noexcept;
  /// max(0.5 s, lease / 4).
  std::chrono::milliseconds margin() const noexcept;
  /// lease − margin: how long after T the lease counts as lost.
  std::chrono::milliseconds lost_after() const noexcept;
  std::chrono::milliseconds stop_allowance() const noexcept { return stop_allowance_; }
  /// lost_after − stop_allowance: how long after T the node is told to stop.
  std::chrono::milliseconds at_risk_after() const noexcept;

  /// T + lost_after, with the TTL etcd answered when it is shorter than the
  /// lease (`ttl_seconds` 0: the lease).
  BootClock::time_point lost_at(BootClock::time_point confirmed,
                                std::int64_t ttl_seconds = 0) const noexcept;
  /// lost_at − stop_allowance.
  BootClock::time_point at_risk_at(BootClock::time_point confirmed,
                                   std::int64_t ttl_seconds = 0) const noexcept;

 private:
  std::chrono::milliseconds effective_lease(std::int64_t ttl_seconds) const noexcept;

  std::chrono::seconds lease_;
  std::chrono::milliseconds stop_allowance_;
};

}  // namespace processpype::cluster
