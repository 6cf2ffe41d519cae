#include "systemd_notifier.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>
#include <systemd/sd-daemon.h>
#include <caf/all.hpp>

#include "processpype/actors/protocol.hpp"
#include "processpype/actors/runtime.hpp"
#include "processpype/runtime/logging.hpp"

namespace processpype {

namespace {

using namespace std::chrono_literals;

/// How often the instance counts are read for STATUS=.
constexpr auto status_interval = 1s;
/// The longest wait for the Supervisor's answer: GET /health/live's bound
/// (docs/operations.md), so that the watchdog and the probe agree.
constexpr std::chrono::microseconds liveness_timeout = 2s;

}  // namespace

std::string describe_instance_counts(const InstanceCounts& counts) {
  std::int64_t total = 0;
  std::string by_state;
  // by_state is indexed by ServiceState, which lists the states in lifecycle order.
  for (std::size_t state = 0; state < counts.by_state.size(); ++state) {
    // The counts move one at a time, so a reader may see one a moment below zero.
    auto count = std::max<std::int64_t>(0, counts.by_state[state].load(std::memory_order_relaxed));
    if (count == 0) continue;
    total += count;
    by_state += fmt::format("{}{} {}", by_state.empty() ? ": " : ", ", count,
                            to_string(static_cast<ServiceState>(state)));
  }
  return fmt::format("{} instance{}{}", total, total == 1 ? "" : "s", by_state);
}

SystemdNotifier::SystemdNotifier(Runtime& runtime)
    : runtime_(runtime), logger_(make_logger("processpype.systemd")) {
  enabled_ = std::getenv("NOTIFY_SOCKET") != nullptr;
  if (!enabled_) return;
  std::uint64_t watchdog_usec = 0;
  // 0 also when WATCHDOG_PID names another process (the watchdog is not ours).
  if (sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0) {
    watchdog_interval_ = std::chrono::microseconds(watchdog_usec / 2);
    answer_timeout_ = std::min(*watchdog_interval_, liveness_timeout);
    logger_->info("systemd watchdog: pinging every {} ms while the node's actors answer",
                  watchdog_interval_->count() / 1000);
  }
  thread_ = std::thread([this] { run(); });
}

SystemdNotifier::~SystemdNotifier() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock{mutex_};
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();  // at most one answer_timeout_, when a request is in flight
}

void SystemdNotifier::ready() {
  if (!enabled_) return;
  std::lock_guard lock{mutex_};
  last_status_ = describe_instance_counts(runtime_.table().counts());
  notify("READY=1\nSTATUS=" + last_status_);
}

void SystemdNotifier::stopping() {
  if (enabled_) notify("STOPPING=1");
}

void SystemdNotifier::run() {
  auto next_status = Clock::now();
  auto next_ping = Clock::now();
  std::unique_lock lock{mutex_};
  while (!stop_) {
    lock.unlock();
    auto now = Clock::now();
    if (now >= next_status) {
      publish_status();
      next_status = now + status_interval;
    }
    if (watchdog_interval_ && now >= next_ping) next_ping = keep_watchdog(now);
    lock.lock();
    auto wake_at = watchdog_interval_ ? std::min(next_status, next_ping) : next_status;
    wake_.wait_until(lock, wake_at, [this] { return stop_; });
  }
}

SystemdNotifier::Clock::time_point SystemdNotifier::keep_watchdog(Clock::time_point now) {
  if (supervisor_answers()) {
    if (!answering_) logger_->info("The Supervisor answers again: pinging the systemd watchdog");
    answering_ = true;
    notify("WATCHDOG=1");
    return now + *watchdog_interval_;
  }
  if (answering_)
    logger_->warn(
        "The Supervisor did not answer within {} ms: not pinging the systemd watchdog "
        "(systemd restarts the node when a whole WatchdogSec= passes without a ping)",
        answer_timeout_.count() / 1000);
  answering_ = false;
  // Ask again soon: one slow answer must not cost the node a restart.
  return Clock::now() + std::min<std::chrono::microseconds>(*watchdog_interval_ / 4, 1s);
}

bool SystemdNotifier::supervisor_answers() const {
  // A scoped actor per question: a reply that comes after the timeout dies
  // with it instead of waiting in a mailbox.
  caf::scoped_actor self{runtime_.system()};
  bool answered = false;
  self->request(runtime_.supervisor(), caf::timespan{answer_timeout_}, count_atom::value)
      .receive([&](std::uint64_t) { answered = true; }, [](caf::error&) {});
  return answered;
}

void SystemdNotifier::publish_status() {
  auto status = describe_instance_counts(runtime_.table().counts());
  std::lock_guard lock{mutex_};
  if (status == last_status_) return;
  last_status_ = status;
  notify("STATUS=" + status);
}

void SystemdNotifier::notify(const std::string& state) const {
  if (int result = sd_notify(0, state.c_str()); result < 0)
    logger_->debug("sd_notify({}) failed: {}", state, std::strerror(-result));
}

}  // namespace processpype
