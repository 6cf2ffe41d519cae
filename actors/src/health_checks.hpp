#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "internal_protocol.hpp"
#include "processpype/runtime/lifecycle.hpp"

namespace processpype {

/// The health checks of a running service (docs/supervision.md, "Health
/// checks"): their timer, every health interval while the service runs,
/// and the checks that failed in a row. A timer of an earlier run is
/// ignored (its generation is past).
class HealthChecks {
 public:
  HealthChecks(ServiceActor::pointer self, ServiceLifecycle& lifecycle)
      : self_(self), lifecycle_(lifecycle) {}

  /// The service runs: the first check after one interval (none when the
  /// interval is not positive), counting failures afresh.
  void arm();
  /// The check timer of `generation` fired: whether it is time for a check
  /// (the timer is set for the next one then).
  bool is_due(std::uint64_t generation);
  /// The service left running: its check timer ends.
  void stop() { ++generation_; }

  /// Records a check's answer while the service runs; the failure to report
  /// once `health_failures` checks in a row failed.
  std::optional<std::string> record(const Health& health);
  /// The answer of a check that outlived its timeout.
  Health timed_out() const;

 private:
  ServiceActor::pointer self_;
  ServiceLifecycle& lifecycle_;
  std::uint64_t generation_ = 0;
  std::int64_t consecutive_unhealthy_ = 0;
};

}  // namespace processpype
