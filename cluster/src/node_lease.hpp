#pragma once

// A node's lease (docs/cluster.md, "Leases and timing"): granted, renewed
// every lease/3 on a thread of its own, and watched by a second thread
// that turns its deadlines (at risk, lost: LeaseTiming) into signals at
// their moment, also while a renewal waits for a store that does not
// answer. A renewal that fails says nothing about the lease: the deadlines
// count from the last confirmed one. A renewal that etcd answers without a
// TTL means the lease is gone; a fresh one is granted. Internal to
// processpype_cluster.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <spdlog/logger.h>

#include "processpype/cluster/boot_clock.hpp"
#include "processpype/cluster/coordinator.hpp"
#include "processpype/cluster/lease_timing.hpp"
#include "processpype/etcd/etcd_client.hpp"
#include "processpype/etcd/failure_log_limiter.hpp"

namespace processpype::cluster::internal {

struct LeaseState {
  std::int64_t id = 0;  ///< 0: none
  LeaseHealth health = LeaseHealth::secure;
  BootClock::time_point confirmed_at{};  ///< T
  std::int64_t ttl = 0;                  ///< etcd's last answer
  BootClock::time_point at_risk_at{};
  BootClock::time_point lost_at{};
};

class NodeLease {
 public:
  /// Called one at a time, in order, on the lease's threads, each with the
  /// state right after the change.
  struct Signals {
    /// A new lease (the first, or after one was gone).
    std::function<void(const LeaseState&)> granted;
    /// A renewal confirmed; `previous` is the health before it (at_risk or
    /// lost: the lease is alive again).
    std::function<void(const LeaseState&, LeaseHealth previous)> renewed;
    std::function<void(const LeaseState&)> at_risk;
    std::function<void(const LeaseState&)> lost;
    /// etcd says the lease `id` does not exist (any more).
    std::function<void(std::int64_t id)> expired;
    /// Whether the store answered a call (reachability).
    std::function<void(bool ok)> call_outcome;
  };

  NodeLease(etcd::Client client, LeaseTiming timing, Signals signals,
            std::shared_ptr<spdlog::logger> log);
  /// stop(false).
  ~NodeLease();
  NodeLease(const NodeLease&) = delete;
  NodeLease& operator=(const NodeLease&) = delete;

  void start();
  /// Renews now instead of at the next period (something suggests the
  /// lease is gone).
  void renew_now() noexcept;
  /// Stops both threads; `revoke`: then revokes the lease (a clean exit).
  void stop(bool revoke);

  LeaseState state() const;
  const LeaseTiming& timing() const noexcept { return timing_; }
  std::uint64_t renewals() const noexcept { return renewals_.load(); }
  std::uint64_t requests_sent() const noexcept { return client_.requests_sent(); }

 private:
  void renew_loop();
  void deadline_loop();
  /// Grants a lease; false when the store did not.
  bool grant();
  void renew();
  /// The time of the next deadline of the current lease (max: none).
  BootClock::time_point next_deadline() const;
  /// Moves to at_risk / lost when their time has come.
  void pass_deadlines();
  void set_confirmed(LeaseState& state, BootClock::time_point sent, std::int64_t ttl) const;
  /// Under state_mutex_.
  void log_renewal_failure(std::int64_t id, const etcd::StoreError& error);
  bool stopping() const noexcept { return stopping_.load(); }

  etcd::Client client_;
  LeaseTiming timing_;
  Signals signals_;
  std::shared_ptr<spdlog::logger> log_;

  /// Held while a change is made and signalled, so that signals come in
  /// the order of the changes.
  std::mutex signal_mutex_;
  mutable std::mutex state_mutex_;
  LeaseState state_;
  BootClock::time_point next_renewal_{};
  /// The renewing thread's own: an outage fails a renewal every
  /// retry_interval until the store answers again.
  etcd::FailureLogLimiter<BootClock> renewal_failure_log_;

  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> renewals_{0};
  BootAlarm renew_alarm_;
  BootAlarm deadline_alarm_;
  std::thread renew_thread_;
  std::thread deadline_thread_;
};

}  // namespace processpype::cluster::internal
