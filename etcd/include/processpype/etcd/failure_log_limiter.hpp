#pragma once

// Which of a run of repeated failures gets a log line (docs/operations.md,
// "Store outages"): a store that does not answer fails a lease renewal
// every few hundred milliseconds and a watch reconnection every second, for
// as long as the outage lasts; a line for each would flood the log. Header
// only: the etcd watch and the cluster's lease both use it, on clocks of
// their own.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace processpype::etcd {

/// The least time between two lines about the same run of failures.
inline constexpr std::chrono::seconds failure_log_interval{30};

/// The first failure of a run is logged at once, then at most one per
/// `interval`, each line telling how many failed unlogged before it. A
/// success ends the run. For one thread at a time.
template <typename Clock>
class FailureLogLimiter {
 public:
  explicit FailureLogLimiter(typename Clock::duration interval = failure_log_interval)
      : interval_(interval) {}

  /// A failure at `now`: nullopt when it gets no line, else how many
  /// failures since the last line got none.
  std::optional<std::uint64_t> failure(typename Clock::time_point now) {
    ++failures_;
    if (last_line_ && now - *last_line_ < interval_) {
      ++unlogged_;
      return std::nullopt;
    }
    last_line_ = now;
    return std::exchange(unlogged_, 0);
  }

  /// The run ended: how many failures it had, logged or not (a run of more
  /// than one is worth a line that says it ended). The next failure is
  /// logged at once.
  std::uint64_t success() {
    last_line_.reset();
    unlogged_ = 0;
    return std::exchange(failures_, 0);
  }

 private:
  typename Clock::duration interval_;
  std::optional<typename Clock::time_point> last_line_;
  std::uint64_t failures_ = 0;  ///< in the current run
  std::uint64_t unlogged_ = 0;  ///< since its last line
};

/// What a line adds about the failures before it that got none:
/// " (N more failed since the last report)", or nothing.
inline std::string unlogged_failures_note(std::uint64_t unlogged) {
  if (unlogged == 0) return {};
  return " (" + std::to_string(unlogged) + " more failed since the last report)";
}

}  // namespace processpype::etcd
