#include "processpype/runtime/restart_policy.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "processpype/runtime/durations.hpp"

namespace processpype {

RestartTracker::Decision RestartTracker::on_failure(const ServiceConfiguration& configuration,
                                                    Clock::time_point now) {
  auto window = to_duration<Clock::duration>(configuration.restart_window_seconds);
  if (running_since_ && now - *running_since_ >= window) consecutive_ = 0;
  running_since_.reset();
  while (!recent_.empty() && now - recent_.front() >= window) recent_.pop_front();

  Decision decision;
  if (recent_.size() >= static_cast<std::uint64_t>(configuration.max_restarts)) {
    decision.give_up = true;
    decision.give_up_text = fmt::format("; gave up after {} restarts in {} s", recent_.size(),
                                        configuration.restart_window_seconds);
    return decision;
  }
  // 2^consecutive, saturating long before a double overflows.
  double factor = std::ldexp(1.0, static_cast<int>(std::min<std::uint32_t>(consecutive_, 60)));
  double delay = std::min(
      configuration.restart_delay_seconds * factor,
      std::max(configuration.restart_max_delay_seconds, configuration.restart_delay_seconds));
  decision.delay = to_duration<Clock::duration>(delay);
  return decision;
}

void RestartTracker::on_restart(Clock::time_point now) {
  recent_.push_back(now);
  ++consecutive_;
  ++total_;
}

}  // namespace processpype
