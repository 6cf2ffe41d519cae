#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "processpype/runtime/configuration.hpp"

namespace processpype {

/// The restart bookkeeping of one instance (docs/supervision.md): the delay
/// doubles after each consecutive restart up to a cap, as systemd's
/// RestartSec with backoff does, and at most `max_restarts` restarts fit in
/// a sliding `restart_window_seconds`, as OTP's intensity and period.
class RestartTracker {
 public:
  using Clock = std::chrono::steady_clock;

  /// What to do after a failure: restart after `delay`, or give up, with
  /// `give_up_text` to append to the failure's text.
  struct Decision {
    bool give_up = false;
    Clock::duration delay{};
    std::string give_up_text;  ///< "; gave up after 5 restarts in 60 s"
  };

  /// A failure happened at `now` (with the policy of `configuration`).
  Decision on_failure(const ServiceConfiguration& configuration, Clock::time_point now);

  /// A restart is being made at `now`.
  void on_restart(Clock::time_point now);

  /// The service reached `running` at `now`: once it stays there for the
  /// window, the delay is back to its first value.
  void on_running(Clock::time_point now) { running_since_ = now; }
  /// The service left `running` other than by failing (a user's stop).
  void on_stopped() { running_since_.reset(); }

  /// Automatic restarts since registration.
  std::uint64_t restarts() const noexcept { return total_; }

 private:
  std::deque<Clock::time_point> recent_;  ///< restarts within the window
  std::uint32_t consecutive_ = 0;         ///< restarts since the delay was last reset
  std::uint64_t total_ = 0;
  std::optional<Clock::time_point> running_since_;
};

}  // namespace processpype
