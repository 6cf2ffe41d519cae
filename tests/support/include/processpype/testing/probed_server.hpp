#pragma once

// The `processpype` binary as a child process whose readiness is judged by a
// probe of the caller's choice: for servers that GET / does not answer 200
// (authentication on, HTTPS, client certificates), which ServerProcess
// cannot wait for. Killed when destroyed.

#include <chrono>
#include <csignal>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "processpype/testing/http.hpp"
#include "processpype/testing/process.hpp"

namespace processpype::testing {

/// Whether GET /health/ready on http://127.0.0.1:<port> answers 200 (an
/// open route: no token needed).
bool http_ready(int port);

struct ProbedServerOptions {
  std::vector<std::string> args;  ///< after `--host 127.0.0.1 --port <port>` (pass_port)
  Environment env;
  bool pass_port = true;
  int port = 0;  ///< 0: a free port is picked
  /// Whether the server on `port` is ready; http_ready when empty.
  std::function<bool(int port)> ready;
  std::chrono::milliseconds ready_timeout = 15s;
  Output output = Output::capture;
  /// Starts (each time on a new free port when `port` is 0) before giving up.
  int attempts = 1;
  std::string name = "processpype";
};

class ProbedServer {
 public:
  /// Starts the server and polls `ready` until it holds; std::runtime_error
  /// (with the server's stderr) when it exits or is not ready in time.
  explicit ProbedServer(ProbedServerOptions options);

  int port() const { return port_; }
  ChildProcess& process() { return *process_; }
  bool alive() { return process_->alive(); }
  std::string stdout_text() const { return process_->stdout_text(); }
  std::string stderr_text() const { return process_->stderr_text(); }
  /// A plain-HTTP client for this server.
  HttpClient client() const { return HttpClient(port_); }
  /// Sends `signal` (e.g. SIGHUP).
  void signal(int signal) { process_->signal(signal); }
  /// Sends `signal` and waits up to `timeout` for the exit; kills it after.
  ExitStatus stop(int signal = SIGTERM, std::chrono::milliseconds timeout = 15s);

 private:
  std::string try_start(const ProbedServerOptions& options);

  int port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace processpype::testing
