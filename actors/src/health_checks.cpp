#include "health_checks.hpp"

#include <fmt/format.h>
#include <caf/all.hpp>

namespace processpype {

void HealthChecks::arm() {
  consecutive_unhealthy_ = 0;
  auto interval = lifecycle_.health_interval();
  if (interval <= std::chrono::nanoseconds::zero()) return;
  self_->delayed_send(self_, interval, health_atom::value, ++generation_);
}

bool HealthChecks::is_due(std::uint64_t generation) {
  if (generation != generation_ || lifecycle_.state() != ServiceState::running) return false;
  self_->delayed_send(self_, lifecycle_.health_interval(), health_atom::value, generation);
  return true;
}

std::optional<std::string> HealthChecks::record(const Health& health) {
  lifecycle_.record_health(health);
  consecutive_unhealthy_ = health.ok ? 0 : consecutive_unhealthy_ + 1;
  if (consecutive_unhealthy_ < lifecycle_.configuration().health_failures) return std::nullopt;
  return fmt::format("Health check failed {} times: {}", consecutive_unhealthy_, health.detail);
}

Health HealthChecks::timed_out() const {
  return Health{false, fmt::format("Health check timed out after {} s",
                                   lifecycle_.configuration().health_timeout_seconds)};
}

}  // namespace processpype
