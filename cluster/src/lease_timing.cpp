#include "processpype/cluster/lease_timing.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace processpype::cluster {

using std::chrono::milliseconds;

namespace {

constexpr milliseconds smallest_margin{500};

}  // namespace

LeaseTiming::LeaseTiming(std::chrono::seconds lease, milliseconds stop_allowance)
    : lease_(lease), stop_allowance_(stop_allowance) {
  if (lease_ < std::chrono::seconds(2))
    throw std::invalid_argument("cluster.lease_seconds must be at least 2, not " +
                                std::to_string(lease_.count()));
  if (stop_allowance_ == milliseconds(0)) stop_allowance_ = margin();
  auto largest = lost_after() - renewal_period();
  if (stop_allowance_ < milliseconds(0) || stop_allowance_ > largest)
    throw std::invalid_argument("the stop allowance of a " + std::to_string(lease_.count()) +
                                " s lease must be between 0 and " +
                                std::to_string(largest.count()) + " ms, not " +
                                std::to_string(stop_allowance_.count()) + " ms");
}

milliseconds LeaseTiming::renewal_period() const noexcept {
  return std::chrono::duration_cast<milliseconds>(lease_) / 3;
}

milliseconds LeaseTiming::renewal_timeout() const noexcept {
  return renewal_period() / 2;
}

milliseconds LeaseTiming::retry_interval() const noexcept {
  return renewal_period() / 4;
}

milliseconds LeaseTiming::margin() const noexcept {
  return std::max(smallest_margin, std::chrono::duration_cast<milliseconds>(lease_) / 4);
}

milliseconds LeaseTiming::lost_after() const noexcept {
  return std::chrono::duration_cast<milliseconds>(lease_) - margin();
}

milliseconds LeaseTiming::at_risk_after() const noexcept {
  return lost_after() - stop_allowance_;
}

milliseconds LeaseTiming::effective_lease(std::int64_t ttl_seconds) const noexcept {
  auto lease = std::chrono::duration_cast<milliseconds>(lease_);
  if (ttl_seconds > 0) lease = std::min(lease, milliseconds(ttl_seconds * 1000));
  return lease;
}

BootClock::time_point LeaseTiming::lost_at(BootClock::time_point confirmed,
                                           std::int64_t ttl_seconds) const noexcept {
  return confirmed + effective_lease(ttl_seconds) - margin();
}

BootClock::time_point LeaseTiming::at_risk_at(BootClock::time_point confirmed,
                                              std::int64_t ttl_seconds) const noexcept {
  return lost_at(confirmed, ttl_seconds) - stop_allowance_;
}

}  // namespace processpype::cluster
