#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace processpype::communications {

/// Whether an alert may go despite the throttle.
enum class AlertKind {
  throttled,    ///< a failure, a failover, a node down: at most one per interval
  always_sent,  ///< a give-up: it is the last word on an instance
};

/// The throttle's answer. When it says send, `held_back` is how many alerts
/// of the same source it refused since the last one it let through (worth
/// a mention in the message).
struct AlertAdmission {
  bool send = false;
  std::uint64_t held_back = 0;

  explicit operator bool() const noexcept { return send; }
};

/// At most one alert per source per `min_interval`, so that a restart loop
/// does not flood anyone (docs/communications.md); always-sent alerts pass
/// and start a new interval too. Thread-safe.
class AlertThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  /// What "now" is: steady_clock::now, or a test's clock.
  using Now = std::function<Clock::time_point()>;

  explicit AlertThrottle(Clock::duration min_interval = std::chrono::seconds(60),
                         Now now = &Clock::now);

  /// Decides for one alert about `source`, and records it when it goes.
  AlertAdmission admit(std::string_view source, AlertKind kind = AlertKind::throttled);

  Clock::duration min_interval() const noexcept { return min_interval_; }

 private:
  struct SourceState {
    Clock::time_point last_sent;
    std::uint64_t held_back = 0;
  };

  void forget_quiet_sources(Clock::time_point now);

  Clock::duration min_interval_;
  Now now_;
  std::mutex mutex_;
  std::unordered_map<std::string, SourceState> sources_;
  std::size_t prune_at_;
};

}  // namespace processpype::communications
