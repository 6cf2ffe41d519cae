#include "processpype/testing/probed_server.hpp"

#include <algorithm>
#include <stdexcept>

#include "processpype/testing/server.hpp"

namespace processpype::testing {

bool http_ready(int port) {
  HttpClient probe(port, "", 1s);
  return probe.get("/health/ready").status == 200;
}

ProbedServer::ProbedServer(ProbedServerOptions options) {
  std::string why;
  for (int attempt = 1; attempt <= std::max(1, options.attempts); ++attempt) {
    port_ = options.port != 0 ? options.port : free_port();
    why = try_start(options);
    if (why.empty()) return;
  }
  throw std::runtime_error(why);
}

std::string ProbedServer::try_start(const ProbedServerOptions& options) {
  std::vector<std::string> args;
  if (options.pass_port) args = {"--host", "127.0.0.1", "--port", std::to_string(port_)};
  args.insert(args.end(), options.args.begin(), options.args.end());
  process_ = std::make_unique<ChildProcess>(server_binary(), args, options.env, options.output);
  auto ready = options.ready ? options.ready : http_ready;
  bool exited = false;
  bool ok = wait_until(
      [&] {
        if (!process_->alive()) {
          exited = true;
          return true;
        }
        return ready(port_);
      },
      options.ready_timeout, 25ms);
  if (!exited && ok) return "";
  std::string why =
      exited ? "exited (" + process_->wait(0ms).describe() + ")" : "was not ready in time";
  auto err = process_->stderr_text();
  process_->kill();
  std::string message = options.name + " on port " + std::to_string(port_) + " " + why;
  if (options.output == Output::capture) message += "; stderr:\n" + err.substr(0, 4000);
  return message;
}

ExitStatus ProbedServer::stop(int signal, std::chrono::milliseconds timeout) {
  process_->signal(signal);
  auto status = process_->wait(timeout);
  if (status.timed_out()) process_->kill();
  return status;
}

}  // namespace processpype::testing
