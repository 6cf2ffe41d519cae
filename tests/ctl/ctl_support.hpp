#pragma once

// Running `processpype ctl` (docs/cli.md) as the operator would: the real
// binary as a child process, with its output captured, on a pseudo-terminal,
// or left running (events --follow) while the test reads its lines.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <processpype/testing/process.hpp>
#include <processpype/testing/server.hpp>

namespace processpype::testing::ctl {

/// "http://127.0.0.1:<port>": what --url and PROCESSPYPE_URL take.
std::string url_of(int port);

/// An environment for ctl: PROCESSPYPE_URL=`url` (none when empty), and
/// none of the caller's PROCESSPYPE_TOKEN, PROCESSPYPE_CA_FILE, NO_COLOR or
/// proxies, which would change what it does; then `extra`.
Environment ctl_environment(const std::string& url, const Environment& extra = {});

struct CtlRun {
  ExitStatus status;
  std::string out;
  std::string err;

  int code() const { return status.code; }
  /// For failure messages: the exit status and both outputs.
  std::string describe() const;
};

/// Runs `processpype ctl <args>` against `url` until it exits (killed after
/// `timeout`).
CtlRun run_ctl(const std::string& url, const std::vector<std::string>& args,
               const Environment& extra = {}, std::chrono::milliseconds timeout = 30s);

/// Runs `shell_command` with `sh -c`, where "$CTL" is `processpype ctl` and
/// PROCESSPYPE_URL is `url` (for pipes into its standard input).
CtlRun run_in_shell(const std::string& url, const std::string& shell_command,
                    std::chrono::milliseconds timeout = 30s);

/// Runs `processpype ctl <args>` with its standard output and error on a
/// pseudo-terminal (forkpty), as in an operator's shell; returns what the
/// terminal received.
CtlRun run_ctl_on_terminal(const std::string& url, const std::vector<std::string>& args,
                           const Environment& extra = {}, std::chrono::milliseconds timeout = 30s);

/// `processpype ctl <args>` left running (events --follow), its output
/// captured in files that the test reads while it runs.
class RunningCtl {
 public:
  RunningCtl(const std::string& url, const std::vector<std::string>& args,
             const Environment& extra = {});

  /// Its output lines so far.
  std::vector<std::string> lines() const { return lines_of(process_->stdout_text()); }
  std::string err() const { return process_->stderr_text(); }
  /// Waits up to `timeout` for a line of its output that `matches`.
  bool wait_for_line(const std::function<bool(const std::string&)>& matches,
                     std::chrono::milliseconds timeout);
  /// How many lines of its output match.
  std::size_t count_lines(const std::function<bool(const std::string&)>& matches) const;
  ChildProcess& process() { return *process_; }

 private:
  std::unique_ptr<ChildProcess> process_;
};

/// Whether `line` holds every one of `words`.
bool has_words(const std::string& line, const std::vector<std::string>& words);

}  // namespace processpype::testing::ctl
