#pragma once

// Processes, ports, waits and temporary files for the e2e tests, the cluster
// tests and the benchmarks.
//
// - ChildProcess: fork/execve of a program with arguments and an adjusted
//   environment; stdout and stderr go to temporary files (or stay the
//   caller's); bounded waits; the destructor kills (SIGKILL) a child that is
//   still alive, so nothing leaks processes. The child also gets
//   PR_SET_PDEATHSIG, in case the parent itself dies; it fires when the
//   forking thread ends, so children are started from the main thread.
// - install_termination_handlers(): SIGINT, SIGTERM, SIGHUP and SIGQUIT kill
//   every live child and remove the temporary files (for the benchmarks,
//   which a person interrupts).
//
// Everything here listens on and talks to 127.0.0.1 only.

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <netinet/in.h>
#include <sys/types.h>

namespace processpype::testing {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

/// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read
/// the port, close), and never returned before in this process.
int free_port();

/// 127.0.0.1:`port` as a socket address, for bind(2) and connect(2).
sockaddr_in loopback_address(int port);

/// Polls `condition` every `interval` until it holds or `timeout` passed;
/// returns whether it held. The one way tests wait for something.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval = 20ms);

/// Milliseconds since `start`.
double elapsed_ms(Clock::time_point start);

/// Reads a whole file ("" if it cannot be read).
std::string read_file(const std::string& path);

/// Whether every thread of process `pid` is stopped (SIGSTOP: state 'T' in
/// /proc/<pid>/task/<tid>/stat).
bool all_threads_stopped(pid_t pid);

/// Splits text into its non-empty lines (without a trailing '\r').
std::vector<std::string> lines_of(const std::string& text);

/// A temporary file with the given content, removed by the destructor (or
/// by the termination handlers).
class TempFile {
 public:
  explicit TempFile(const std::string& content, const std::string& suffix = ".yaml");
  ~TempFile();
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// A directory under the system's temporary directory, removed with its
/// content by the destructor (or, with the files write() made, by the
/// termination handlers).
class TempDirectory {
 public:
  /// `prefix`: the start of the directory's name.
  explicit TempDirectory(std::string_view prefix = "processpype");
  ~TempDirectory();
  TempDirectory(const TempDirectory&) = delete;
  TempDirectory& operator=(const TempDirectory&) = delete;

  const std::filesystem::path& path() const { return path_; }
  /// Writes `content` to the file `name` in the directory; its path.
  std::string write(const std::string& name, const std::string& content);

 private:
  std::filesystem::path path_;
  std::vector<std::string> files_;
};

/// The path of `program`: itself when it names a path (has a '/'), else the
/// first executable of that name in PATH; nullopt when it cannot be run.
std::optional<std::string> find_program(const std::string& program);

/// Environment changes for a child: variables to set and variables to unset.
/// ENABLED_SERVICES is always unset unless `set` names it, so that the
/// caller's environment never changes what a server starts with.
struct Environment {
  std::vector<std::pair<std::string, std::string>> set;
  std::vector<std::string> unset;
};

/// The environment a child starts with, as "NAME=value" strings: the
/// caller's, less ENABLED_SERVICES and what `env` unsets or sets, plus what
/// `env` sets.
std::vector<std::string> environment_strings(const Environment& env);

/// How a child ended. `code` is the exit code, or 128 + signal when it was
/// killed by a signal, or -1 while it has not ended (timeout).
struct ExitStatus {
  int code = -1;
  bool exited = false;
  bool signaled = false;
  bool timed_out() const { return code == -1; }
  std::string describe() const;
};

/// Where a child's stdout and stderr go.
enum class Output {
  capture,  ///< temporary files: stdout_text(), stderr_text()
  inherit,  ///< the parent's stdout and stderr
};

class ChildProcess {
 public:
  /// Starts `program` (a path, or a name looked up in PATH) with `args`;
  /// stdin is /dev/null, no descriptor but 0-2 is inherited, and the
  /// signal mask and SIGINT/SIGTERM/SIGHUP/SIGQUIT/SIGPIPE are the defaults a
  /// shell would give. An exec failure ends the child with code 127.
  ChildProcess(const std::string& program, const std::vector<std::string>& args,
               const Environment& env = {}, Output output = Output::capture);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  /// Whether the child has not ended yet (reaps it if it has).
  bool alive();
  /// Sends `signal` (no-op once it ended).
  void signal(int signal);
  /// Waits up to `timeout` for the child to end.
  ExitStatus wait(std::chrono::milliseconds timeout);
  /// SIGKILL and reap (no-op once it ended).
  void kill();
  /// Sends `signal` and waits up to `timeout` for the end; kills the child
  /// when it does not end in time (the status then says timed out).
  ExitStatus stop(int signal, std::chrono::milliseconds timeout);

  /// What the child wrote so far ("" with Output::inherit).
  std::string stdout_text() const { return read_file(stdout_path_); }
  std::string stderr_text() const { return read_file(stderr_path_); }

 private:
  bool reap(int options);

  pid_t pid_ = -1;
  std::optional<ExitStatus> status_;
  std::string stdout_path_;
  std::string stderr_path_;
};

/// SIGINT, SIGTERM, SIGHUP and SIGQUIT kill (SIGKILL) every live
/// ChildProcess and remove the temporary files and directories, then exit
/// with 128 + signal; SIGPIPE is ignored. For programs a person interrupts
/// (the benchmarks); the test runner has its own handlers.
void install_termination_handlers();

}  // namespace processpype::testing
