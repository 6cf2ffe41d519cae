#include "processpype/communications/alert_throttle.hpp"

#include <algorithm>

namespace processpype::communications {

namespace {

/// Sources are forgotten (once quiet for an interval) only when there are
/// this many, so that a long-lived node with many short-lived instances
/// keeps a bounded table without a sweep on every alert.
constexpr std::size_t min_prune_size = 1024;

}  // namespace

AlertThrottle::AlertThrottle(Clock::duration min_interval, Now now)
    : min_interval_(min_interval), now_(std::move(now)), prune_at_(min_prune_size) {}

AlertAdmission AlertThrottle::admit(std::string_view source, AlertKind kind) {
  auto now = now_();
  std::lock_guard lock{mutex_};
  auto found = sources_.find(std::string(source));
  if (found == sources_.end()) {
    if (sources_.size() >= prune_at_) forget_quiet_sources(now);
    sources_.emplace(std::string(source), SourceState{now, 0});
    return {true, 0};
  }
  auto& state = found->second;
  if (kind == AlertKind::throttled && now - state.last_sent < min_interval_) {
    ++state.held_back;
    return {false, 0};
  }
  AlertAdmission admission{true, state.held_back};
  state = SourceState{now, 0};
  return admission;
}

void AlertThrottle::forget_quiet_sources(Clock::time_point now) {
  // A source with alerts held back is kept: its next alert reports them.
  std::erase_if(sources_, [&](const auto& entry) {
    return entry.second.held_back == 0 && now - entry.second.last_sent >= min_interval_;
  });
  prune_at_ = std::max(min_prune_size, sources_.size() * 2);
}

}  // namespace processpype::communications
