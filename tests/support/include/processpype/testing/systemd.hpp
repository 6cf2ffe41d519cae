#pragma once

// systemd's side of a node (docs/packaging.md), without systemd running:
//
// - NotifySocket: the Unix datagram socket that systemd hands a Type=notify
//   service as NOTIFY_SOCKET; receives what the service sends through
//   sd_notify (READY=1, WATCHDOG=1, STATUS=..., STOPPING=1).
// - UnitRoot and analyze_unit: `systemd-analyze verify` and `security` on a
//   unit file offline, inside a scratch root (--root) that holds the unit,
//   the programs it runs and the host's target units it depends on.
// - run_command: any program to completion, with its output.

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "processpype/testing/process.hpp"
#include "processpype/testing/server.hpp"

namespace processpype::testing {

/// One sd_notify datagram: its newline-separated VARIABLE=VALUE assignments.
struct NotifyMessage {
  Clock::time_point received;
  std::vector<std::string> assignments;

  /// Whether it holds exactly `assignment` ("READY=1").
  bool has(std::string_view assignment) const;
  /// The value of `variable` ("STATUS"), nullopt when it has none.
  std::optional<std::string> value(std::string_view variable) const;
  /// "READY=1 | STATUS=..." for failure messages.
  std::string describe() const;
};

/// Whether `message` pings the watchdog (WATCHDOG=1).
bool is_watchdog_ping(const NotifyMessage& message);

/// A Unix datagram socket bound in a new temporary directory, as systemd
/// makes for a Type=notify service: pass path() as NOTIFY_SOCKET.
class NotifySocket {
 public:
  NotifySocket();
  ~NotifySocket();
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  const std::string& path() const { return path_; }

  /// The next message, waiting up to `timeout`; nullopt when none came.
  std::optional<NotifyMessage> receive(std::chrono::milliseconds timeout);
  /// Messages until one satisfies `wanted` (returned; nullopt after
  /// `timeout`). Every message received on the way, that one included, is
  /// appended to `seen` when given.
  std::optional<NotifyMessage> receive_until(
      const std::function<bool(const NotifyMessage&)>& wanted, std::chrono::milliseconds timeout,
      std::vector<NotifyMessage>* seen = nullptr);
  /// The messages waiting now, without waiting for more.
  std::vector<NotifyMessage> drain();

 private:
  TempDirectory directory_{"processpype-notify"};
  std::string path_;
  int descriptor_ = -1;
};

/// Runs `program` (a path or a name in PATH) with `args` until it exits;
/// kills it after `timeout` (status.timed_out() is then true).
RunResult run_command(const std::string& program, const std::vector<std::string>& args,
                      const Environment& env = {}, std::chrono::milliseconds timeout = 30s);

/// A scratch root directory for `systemd-analyze --root`: it starts with the
/// host's target units (a service's default dependencies name them) and
/// /bin/kill (an ExecReload= of many units); add the unit and its programs.
class UnitRoot {
 public:
  UnitRoot();
  /// A root over an existing tree (an unpacked package): adds the target
  /// units and /bin/kill to it where missing.
  explicit UnitRoot(std::filesystem::path existing);

  const std::filesystem::path& path() const { return path_; }
  /// Copies the file `source` to `inside` (absolute, as seen in the root).
  void add(const std::filesystem::path& source, const std::string& inside);

 private:
  void add_host_units();

  std::optional<TempDirectory> owned_;
  std::filesystem::path path_;
};

/// What systemd-analyze said of a unit.
struct UnitAnalysis {
  /// False when systemd-analyze is missing or cannot analyze units here
  /// (`output` then says why); the unit is then not judged.
  bool ran = false;
  int code = -1;
  std::string output;  ///< stdout and stderr
};

/// `systemd-analyze verify` of the unit at `inside` (as seen in `root`):
/// code 0 and no output mean a clean unit. It first verifies a minimal
/// unit of its own in the same root, so that a tool that cannot work here
/// reads as not ran rather than as a finding.
UnitAnalysis verify_unit(const UnitRoot& root, const std::string& inside);
/// `systemd-analyze security --offline=yes` of the unit; the report ends
/// with its "Overall exposure level" line.
UnitAnalysis unit_security(const UnitRoot& root, const std::string& inside);

}  // namespace processpype::testing
