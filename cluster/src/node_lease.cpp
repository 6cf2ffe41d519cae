#include "node_lease.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace processpype::cluster::internal {

namespace {

/// The longest wait between two grants while the store does not answer.
constexpr std::chrono::milliseconds longest_grant_backoff{1000};

double milliseconds_between(BootClock::time_point from, BootClock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

/// Whether the store answered (refusing), as opposed to not answering.
bool answered(const etcd::StoreError& error) {
  return error.kind() != etcd::StoreError::Kind::unreachable;
}

/// " after N failed attempts", or nothing.
std::string failed_attempts_note(std::uint64_t failures) {
  if (failures == 0) return {};
  return fmt::format(" after {} failed attempt{}", failures, failures == 1 ? "" : "s");
}

}  // namespace

NodeLease::NodeLease(etcd::Client client, LeaseTiming timing, Signals signals,
                     std::shared_ptr<spdlog::logger> log)
    : client_(std::move(client)),
      timing_(timing),
      signals_(std::move(signals)),
      log_(std::move(log)) {}

NodeLease::~NodeLease() {
  stop(false);
}

void NodeLease::start() {
  renew_thread_ = std::thread([this] { renew_loop(); });
  deadline_thread_ = std::thread([this] { deadline_loop(); });
}

void NodeLease::renew_now() noexcept {
  {
    std::lock_guard lock{state_mutex_};
    next_renewal_ = BootClock::now();
  }
  renew_alarm_.wake();
}

void NodeLease::stop(bool revoke) {
  stopping_.store(true);
  renew_alarm_.wake();
  deadline_alarm_.wake();
  if (renew_thread_.joinable()) renew_thread_.join();
  if (deadline_thread_.joinable()) deadline_thread_.join();
  if (!revoke) return;
  auto id = state().id;
  if (id == 0) return;
  try {
    if (client_.revoke(id))
      log_->info("cluster lease {:x} revoked", id);
    else
      log_->info("cluster lease {:x} had expired already", id);
  } catch (const etcd::StoreError& error) {
    log_->warn("cluster lease {:x} not revoked ({}): it expires on its own", id, error.what());
  }
}

LeaseState NodeLease::state() const {
  std::lock_guard lock{state_mutex_};
  return state_;
}

void NodeLease::set_confirmed(LeaseState& state, BootClock::time_point sent,
                              std::int64_t ttl) const {
  state.confirmed_at = sent;
  state.ttl = ttl;
  state.at_risk_at = timing_.at_risk_at(sent, ttl);
  state.lost_at = timing_.lost_at(sent, ttl);
}

void NodeLease::renew_loop() {
  auto grant_backoff = timing_.retry_interval();
  while (!stopping()) {
    if (state().id == 0) {
      if (grant()) {
        grant_backoff = timing_.retry_interval();
        continue;
      }
      renew_alarm_.wait_until(BootClock::now() + grant_backoff);
      grant_backoff = std::min(grant_backoff * 2, longest_grant_backoff);
      continue;
    }
    BootClock::time_point next;
    {
      std::lock_guard lock{state_mutex_};
      next = next_renewal_;
    }
    renew_alarm_.wait_until(next);
    if (stopping()) break;
    {
      std::lock_guard lock{state_mutex_};
      if (BootClock::now() < next_renewal_) continue;  // woken early: the time moved
    }
    renew();
  }
}

bool NodeLease::grant() {
  auto sent = BootClock::now();
  etcd::Lease lease;
  try {
    lease = client_.grant(timing_.lease().count());
    signals_.call_outcome(true);
  } catch (const etcd::StoreError& error) {
    signals_.call_outcome(answered(error));
    log_->debug("cluster lease not granted: {}", error.what());
    return false;
  }
  {
    std::lock_guard order{signal_mutex_};
    LeaseState granted;
    {
      std::lock_guard lock{state_mutex_};
      state_ = LeaseState{lease.id, LeaseHealth::secure};
      set_confirmed(state_, sent, lease.ttl);
      next_renewal_ = sent + timing_.renewal_period();
      granted = state_;
    }
    log_->info("cluster lease {:x} granted ({} s)", lease.id, lease.ttl);
    signals_.granted(granted);
  }
  deadline_alarm_.wake();
  return true;
}

void NodeLease::renew() {
  auto id = state().id;
  auto sent = BootClock::now();
  std::optional<std::int64_t> ttl;
  try {
    ttl = client_.keep_alive(id);
    signals_.call_outcome(true);
  } catch (const etcd::StoreError& error) {
    signals_.call_outcome(answered(error));
    std::lock_guard lock{state_mutex_};
    next_renewal_ = std::max(BootClock::now(), sent + timing_.retry_interval());
    log_renewal_failure(id, error);
    return;
  }
  auto failures = renewal_failure_log_.success();
  {
    std::lock_guard order{signal_mutex_};
    LeaseState now;
    LeaseHealth previous;
    {
      std::lock_guard lock{state_mutex_};
      if (state_.id != id) return;
      previous = state_.health;
      if (ttl) {
        set_confirmed(state_, sent, *ttl);
        state_.health = LeaseHealth::secure;
        next_renewal_ = sent + timing_.renewal_period();
      } else {
        state_ = LeaseState{};
      }
      now = state_;
    }
    if (ttl) {
      renewals_.fetch_add(1);
      if (previous != LeaseHealth::secure || failures > 1)
        log_->info("cluster lease {:x} renewed again{}: it is alive ({} s)", id,
                   failed_attempts_note(failures), *ttl);
      signals_.renewed(now, previous);
    } else {
      log_->warn("cluster lease {:x} is gone (etcd answered without a TTL)", id);
      signals_.expired(id);
    }
  }
  deadline_alarm_.wake();
}

void NodeLease::log_renewal_failure(std::int64_t id, const etcd::StoreError& error) {
  auto unlogged = renewal_failure_log_.failure(BootClock::now());
  if (!unlogged) return;
  // Once lost, the lease was said to be lost (pass_deadlines): no countdown.
  if (state_.health == LeaseHealth::lost) {
    log_->warn("cluster lease {:x} still not renewed ({}); it counts as lost{}", id, error.what(),
               etcd::unlogged_failures_note(*unlogged));
    return;
  }
  auto left = std::max(0.0, milliseconds_between(BootClock::now(), state_.lost_at));
  log_->warn("cluster lease {:x} not renewed ({}); it counts as lost in {:.0f} ms{}", id,
             error.what(), left, etcd::unlogged_failures_note(*unlogged));
}

BootClock::time_point NodeLease::next_deadline() const {
  std::lock_guard lock{state_mutex_};
  if (state_.id == 0) return BootClock::time_point::max();
  switch (state_.health) {
    case LeaseHealth::secure:
      return state_.at_risk_at;
    case LeaseHealth::at_risk:
      return state_.lost_at;
    case LeaseHealth::lost:
      break;
  }
  return BootClock::time_point::max();
}

void NodeLease::pass_deadlines() {
  std::lock_guard order{signal_mutex_};
  for (;;) {
    LeaseState now;
    {
      std::lock_guard lock{state_mutex_};
      auto time = BootClock::now();
      if (state_.id == 0) return;
      if (state_.health == LeaseHealth::secure && time >= state_.at_risk_at)
        state_.health = LeaseHealth::at_risk;
      else if (state_.health == LeaseHealth::at_risk && time >= state_.lost_at)
        state_.health = LeaseHealth::lost;
      else
        return;
      now = state_;
    }
    if (now.health == LeaseHealth::at_risk) {
      log_->warn(
          "cluster lease {:x} at risk: not renewed for {:.0f} ms; stop by {:.0f} ms from now",
          now.id, milliseconds_between(now.confirmed_at, BootClock::now()),
          milliseconds_between(BootClock::now(), now.lost_at));
      signals_.at_risk(now);
    } else {
      log_->error("cluster lease {:x} counts as lost: not renewed for {:.0f} ms", now.id,
                  milliseconds_between(now.confirmed_at, BootClock::now()));
      signals_.lost(now);
    }
  }
}

void NodeLease::deadline_loop() {
  while (!stopping()) {
    deadline_alarm_.wait_until(next_deadline());
    if (stopping()) break;
    pass_deadlines();
  }
}

}  // namespace processpype::cluster::internal
