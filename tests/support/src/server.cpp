#include "processpype/testing/server.hpp"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <utility>

#include "processpype/testing/systemd.hpp"

namespace processpype::testing {

std::string server_binary() {
  // Another build's binary under this build's tests or benchmarks: a
  // before/after comparison runs the same benchmark against both.
  if (const char* other = std::getenv("PROCESSPYPE_SERVER_BINARY"); other && *other != '\0')
    return other;
#ifdef PROCESSPYPE_SERVER_BINARY
  return PROCESSPYPE_SERVER_BINARY;
#else
  throw std::runtime_error(
      "processpype_testing was configured without the processpype_server "
      "target: no server binary");
#endif
}

std::string examples_dir() {
  return PROCESSPYPE_EXAMPLES_DIR;
}

RunResult run_to_completion(const std::vector<std::string>& args, const Environment& env,
                            std::chrono::milliseconds timeout) {
  return run_command(server_binary(), args, env, timeout);
}

namespace {

std::vector<std::string> server_arguments(const ServerOptions& options, int port) {
  std::vector<std::string> args;
  if (options.pass_port) {
    args = {"--host", "127.0.0.1", "--port", std::to_string(port)};
  }
  args.insert(args.end(), options.args.begin(), options.args.end());
  return args;
}

/// The server's process: the binary with `args`, through the launcher
/// when there is one.
std::unique_ptr<ChildProcess> launch(const ServerOptions& options, std::vector<std::string> args) {
  if (options.launcher.empty())
    return std::make_unique<ChildProcess>(server_binary(), args, options.env, options.output);
  std::vector<std::string> launcher_args(options.launcher.begin() + 1, options.launcher.end());
  launcher_args.push_back(server_binary());
  launcher_args.insert(launcher_args.end(), args.begin(), args.end());
  return std::make_unique<ChildProcess>(options.launcher.front(), launcher_args, options.env,
                                        options.output);
}

ServerOptions with_args(std::vector<std::string> args) {
  ServerOptions options;
  options.args = std::move(args);
  return options;
}

}  // namespace

ServerProcess::ServerProcess(std::vector<std::string> args)
    : ServerProcess(with_args(std::move(args))) {}

int start_on_a_port(int port, int attempts, const std::function<std::string(int port)>& try_start) {
  std::string why;
  for (int attempt = 1; attempt <= std::max(1, attempts); ++attempt) {
    auto chosen = port != 0 ? port : free_port();
    why = try_start(chosen);
    if (why.empty()) return chosen;
  }
  throw std::runtime_error(why);
}

std::string await_ready(ChildProcess& process, const std::function<bool()>& ready,
                        std::chrono::milliseconds timeout, const StartFailure& failure) {
  bool exited = false;
  bool ok = wait_until(
      [&] {
        if (!process.alive()) {
          exited = true;
          return true;
        }
        return ready();
      },
      timeout, 25ms);
  if (!exited && ok) return "";
  std::string why = exited ? "exited (" + process.wait(0ms).describe() + ")" : failure.not_ready;
  auto err = process.stderr_text();
  process.kill();
  std::string message = failure.name + " on port " + std::to_string(failure.port) + " " + why;
  if (failure.output == Output::capture) message += "; stderr:\n" + err.substr(0, 4000);
  return message;
}

ServerProcess::ServerProcess(ServerOptions options) : prefix_(options.api_prefix) {
  port_ = start_on_a_port(options.port, options.attempts, [&](int port) {
    port_ = port;
    return try_start(options);
  });
}

std::string ServerProcess::try_start(const ServerOptions& options) {
  process_ = launch(options, server_arguments(options, port_));
  HttpClient probe(port_, prefix_, 1s);
  return await_ready(*process_, [&] { return probe.get("/").status == 200; }, options.ready_timeout,
                     {options.name, port_, "did not answer GET " + prefix_ + "/ with 200 in time",
                      options.output});
}

ExitStatus ServerProcess::stop(int signal, std::chrono::milliseconds timeout) {
  return process_->stop(signal, timeout);
}

// ---------------------------------------------------------------------------
// REST helpers

json status_of(HttpClient& client, const std::string& name) {
  auto response = client.get("/services/" + name);
  if (response.status != 200 || !response.is_json()) return nullptr;
  return response.body_json;
}

std::string state_of(HttpClient& client, const std::string& name) {
  auto status = status_of(client, name);
  if (!status.is_object() || !status.contains("state") || !status["state"].is_string()) return "";
  return status["state"].get<std::string>();
}

bool wait_for_state(HttpClient& client, const std::string& name, const std::string& state,
                    std::chrono::milliseconds timeout) {
  return wait_until([&] { return state_of(client, name) == state; }, timeout);
}

HttpResponse register_service(HttpClient& client, const std::string& service_name,
                              const std::optional<std::string>& instance_name) {
  json body = {{"service_name", service_name}};
  if (instance_name) body["instance_name"] = *instance_name;
  return client.post("/services/register", body);
}

std::vector<std::string> service_names(HttpClient& client) {
  std::vector<std::string> names;
  auto response = client.get("/services");
  auto services = response.field("services");
  if (!services.is_array()) return names;
  for (const auto& entry : services)
    if (entry.is_object() && entry.contains("name") && entry["name"].is_string())
      names.push_back(entry["name"].get<std::string>());
  return names;
}

}  // namespace processpype::testing
