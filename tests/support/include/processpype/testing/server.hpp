#pragma once

// The `processpype` binary as a child process: on a free 127.0.0.1 port,
// ready once `GET <prefix>/` answers 200, killed when destroyed; helpers for
// its REST API (docs/rest-api.md).

#include <chrono>
#include <csignal>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "processpype/testing/http.hpp"
#include "processpype/testing/process.hpp"

namespace processpype::testing {

/// The `processpype` binary of this build, or the one the environment
/// variable PROCESSPYPE_SERVER_BINARY names.
std::string server_binary();
/// The repository's `examples/` directory.
std::string examples_dir();

struct RunResult {
  ExitStatus status;
  std::string out;
  std::string err;
};

/// Runs the server binary with `args` until it exits; kills it after
/// `timeout` (status.timed_out() is then true).
RunResult run_to_completion(const std::vector<std::string>& args, const Environment& env = {},
                            std::chrono::milliseconds timeout = 10s);

/// Calls `try_start` with `port`, or with a new free port each time when it
/// is 0, up to `attempts` times until it returns "" (started); returns the
/// port it started on. Throws std::runtime_error with the last failure.
int start_on_a_port(int port, int attempts, const std::function<std::string(int port)>& try_start);

/// What a failed start is reported with (await_ready).
struct StartFailure {
  std::string name;  ///< what the message calls the server
  int port = 0;
  std::string not_ready;  ///< why, when it neither exits nor becomes ready in time
  Output output = Output::capture;
};

/// Polls `ready` every 25 ms until it holds, `process` exits or `timeout`
/// passes: "" when ready; else kills the process and returns why, with
/// its stderr when captured.
std::string await_ready(ChildProcess& process, const std::function<bool()>& ready,
                        std::chrono::milliseconds timeout, const StartFailure& failure);

struct ServerOptions {
  std::vector<std::string> args;  ///< extra command-line arguments
  /// A command the binary is run through, before its path: e.g. {"ip",
  /// "netns", "exec", "ns1"} (it must exec the binary, so that signals
  /// reach the server). Empty: the binary is run itself.
  std::vector<std::string> launcher;
  Environment env;
  /// Adds `--host 127.0.0.1 --port <port>`. When false the server is
  /// expected on `port` (e.g. from a config file).
  bool pass_port = true;
  int port = 0;  ///< 0: a free port is picked
  /// Where the server answers (for the readiness probe and client()).
  std::string api_prefix;
  std::chrono::milliseconds ready_timeout = 10s;
  /// What failure messages call the server ("node a").
  std::string name = "processpype";
  /// Output::inherit: the server's output goes to the caller's (stderr_text()
  /// is then empty).
  Output output = Output::capture;
  /// How many times to start it (each time on a new free port, when `port`
  /// is 0) before giving up: a port free_port() found may be taken before
  /// the server binds it. 1 for the tests, where a failed start is a finding.
  int attempts = 1;
};

class ServerProcess {
 public:
  /// Starts the server and waits until `GET <prefix>/` answers 200. Throws
  /// std::runtime_error (with the server's stderr) when it does not become
  /// ready in time or exits.
  explicit ServerProcess(ServerOptions options = {});
  /// Shorthand: only extra arguments.
  explicit ServerProcess(std::vector<std::string> args);
  ~ServerProcess() = default;

  int port() const { return port_; }
  const std::string& api_prefix() const { return prefix_; }
  ChildProcess& process() { return *process_; }
  bool alive() { return process_->alive(); }
  std::string stderr_text() const { return process_->stderr_text(); }

  /// A new client for this server (prefix included).
  HttpClient client() const { return HttpClient(port_, prefix_); }

  /// Sends `signal` and waits up to `timeout` for the exit; kills it when it
  /// does not exit in time (the status then says timed out).
  ExitStatus stop(int signal = SIGTERM, std::chrono::milliseconds timeout = 15s);

 private:
  /// One start on `port_`: "" when ready, else why not.
  std::string try_start(const ServerOptions& options);

  int port_ = 0;
  std::string prefix_;
  std::unique_ptr<ChildProcess> process_;
};

// ---------------------------------------------------------------------------
// REST helpers (all through a client; none asserts anything by itself)

/// GET /services/{name} -> the status object (null on error).
json status_of(HttpClient& client, const std::string& name);
/// The `state` of /services/{name} ("" when it cannot be read).
std::string state_of(HttpClient& client, const std::string& name);
/// Polls until /services/{name} has `state` or the timeout passed.
bool wait_for_state(HttpClient& client, const std::string& name, const std::string& state,
                    std::chrono::milliseconds timeout = 10s);
/// POST /services/register.
HttpResponse register_service(HttpClient& client, const std::string& service_name,
                              const std::optional<std::string>& instance_name = std::nullopt);
/// The names listed by GET /services, in order.
std::vector<std::string> service_names(HttpClient& client);

}  // namespace processpype::testing
