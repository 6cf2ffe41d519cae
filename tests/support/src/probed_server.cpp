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
  port_ = start_on_a_port(options.port, options.attempts, [&](int port) {
    port_ = port;
    return try_start(options);
  });
}

std::string ProbedServer::try_start(const ProbedServerOptions& options) {
  std::vector<std::string> args;
  if (options.pass_port) args = {"--host", "127.0.0.1", "--port", std::to_string(port_)};
  args.insert(args.end(), options.args.begin(), options.args.end());
  process_ = std::make_unique<ChildProcess>(server_binary(), args, options.env, options.output);
  auto ready = options.ready ? options.ready : http_ready;
  return await_ready(*process_, [&] { return ready(port_); }, options.ready_timeout,
                     {options.name, port_, "was not ready in time", options.output});
}

ExitStatus ProbedServer::stop(int signal, std::chrono::milliseconds timeout) {
  return process_->stop(signal, timeout);
}

}  // namespace processpype::testing
