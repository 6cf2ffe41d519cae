#pragma once

#include <cstdint>
#include <vector>

#include "internal_protocol.hpp"
#include "processpype/runtime/lifecycle.hpp"

namespace processpype {

/// The timers service code sets with Service::every: each calls its tick
/// in the service's actor every interval while the service runs, until the
/// service leaves running. A timer of an earlier run is ignored (its
/// generation is past).
class ServiceTimers {
 public:
  ServiceTimers(ServiceActor::pointer self, const ServiceLifecycle& lifecycle)
      : self_(self), lifecycle_(lifecycle) {}

  /// Adds a timer while the service starts or runs (ignored otherwise).
  void add(caf::timespan interval, Tick tick);
  /// Timer `index` of `generation` fired: runs its tick if the service runs
  /// and sets it again. Returns whether it is a current timer.
  bool fire(std::uint64_t generation, std::uint64_t index);
  /// Ends every timer (the service left running).
  void stop();

 private:
  struct Timer {
    caf::timespan interval;
    Tick tick;
  };

  ServiceActor::pointer self_;
  const ServiceLifecycle& lifecycle_;
  std::vector<Timer> timers_;
  std::uint64_t generation_ = 0;
};

}  // namespace processpype
