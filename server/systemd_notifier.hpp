#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <spdlog/logger.h>

namespace processpype {

class Runtime;
struct InstanceCounts;

/// The instance counts as `systemctl status` shows them: "12 instances: 10
/// running, 1 error, 1 stopped" (only the states that have instances, in
/// lifecycle order).
std::string describe_instance_counts(const InstanceCounts& counts);

/// Tells systemd what the node does, through libsystemd's sd_notify
/// (docs/packaging.md, "The watchdog"): READY=1 once it serves, STOPPING=1
/// at SIGTERM, STATUS= with the instance counts whenever they change, and,
/// when the unit has WatchdogSec=, WATCHDOG=1 every half period while the
/// node's Supervisor answers a request in time. A hung node stops pinging
/// and systemd restarts it.
///
/// Without NOTIFY_SOCKET (not started by systemd) it does nothing and starts
/// no thread. Otherwise one thread polls the counts and pings; it ends in
/// the destructor, which must run before the Runtime's.
class SystemdNotifier {
 public:
  explicit SystemdNotifier(Runtime& runtime);
  ~SystemdNotifier();
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  /// READY=1, with the current status: the node serves.
  void ready();
  /// STOPPING=1: the node stops its services and exits.
  void stopping();

  /// How often the watchdog is pinged (half of WATCHDOG_USEC); nullopt
  /// when systemd asked for no watchdog.
  std::optional<std::chrono::microseconds> watchdog_interval() const { return watchdog_interval_; }

 private:
  using Clock = std::chrono::steady_clock;

  void run();
  /// Pings the watchdog if the Supervisor answers; when is the next attempt.
  Clock::time_point keep_watchdog(Clock::time_point now);
  bool supervisor_answers() const;
  /// Sends STATUS= when the counts changed since the last one sent.
  void publish_status();
  void notify(const std::string& state) const;

  Runtime& runtime_;
  std::shared_ptr<spdlog::logger> logger_;
  bool enabled_ = false;
  std::optional<std::chrono::microseconds> watchdog_interval_;
  std::chrono::microseconds answer_timeout_{0};
  bool answering_ = true;
  std::string last_status_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace processpype
