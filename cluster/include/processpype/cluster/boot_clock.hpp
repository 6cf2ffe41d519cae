#pragma once

// The clock of lease timing (docs/cluster.md, "Leases and timing"):
// CLOCK_BOOTTIME, which keeps counting while the machine is suspended, so
// that a node that wakes from a suspend sees at once that its lease has
// run out. steady_clock (CLOCK_MONOTONIC) stops during a suspend and would
// let a woken node believe it still holds its lease; the wall clock jumps.

#include <chrono>
#include <cstdint>

namespace processpype::cluster {

/// A steady clock on CLOCK_BOOTTIME (std::chrono Clock requirements).
struct BootClock {
  using duration = std::chrono::nanoseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<BootClock>;
  static constexpr bool is_steady = true;

  static time_point now() noexcept;
};

/// A wait until a BootClock deadline (timerfd on CLOCK_BOOTTIME, so a
/// suspend does not delay it) that another thread can interrupt. For one
/// waiting thread at a time.
class BootAlarm {
 public:
  BootAlarm();
  ~BootAlarm();
  BootAlarm(const BootAlarm&) = delete;
  BootAlarm& operator=(const BootAlarm&) = delete;

  /// Waits until `deadline` (time_point::max(): no deadline) or a wake();
  /// true when the deadline came, false when woken. A wake() made before
  /// the wait began ends it at once.
  bool wait_until(BootClock::time_point deadline);
  /// Ends the current or the next wait.
  void wake() noexcept;

 private:
  int timer_fd_ = -1;
  int wake_fd_ = -1;
};

}  // namespace processpype::cluster
