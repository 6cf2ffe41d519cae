#include "application.hpp"

#include <csignal>
#include <fstream>
#include <set>
#include <sstream>
#include <unordered_map>

#include <fmt/format.h>
#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "processpype/actors/node_directory.hpp"
#include "processpype/actors/runtime.hpp"
#include "processpype/config/validation.hpp"
#include "processpype/rest/server.hpp"
#include "processpype/runtime/dependencies.hpp"
#include "processpype/runtime/durations.hpp"
#include "processpype/runtime/logging.hpp"
#include "systemd_notifier.hpp"

namespace processpype {

namespace {

sigset_t application_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  return signals;
}

/// Tells the other nodes that this one leaves (they list it down at once).
void leave_cluster(Runtime& runtime, spdlog::logger& logger) {
  try {
    runtime.leave();
  } catch (const Error& error) {
    logger.warn("Could not tell the other nodes that this node leaves: {}", error.detail());
  }
}

}  // namespace

void block_application_signals() {
  auto signals = application_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

Application::Application(ApplicationConfig config, std::vector<std::string> enabled_services)
    : config_(std::move(config)), enabled_services_(std::move(enabled_services)) {}

void Application::validate() {
  ConfigDiagnostics diagnostics;
  validate_application_config(config_, enabled_services_, diagnostics);
  if (diagnostics.has_errors()) throw ApplicationConfigError(diagnostics.first_error().describe());
}

std::vector<std::string> Application::start_roots(
    const std::function<bool(const std::string&)>& is_enabled) const {
  std::vector<std::string> roots;
  for (const auto& instance : config_.services)
    if (is_enabled(instance.name)) roots.push_back(instance.name);
  for (const auto& key : enabled_services_)
    if (std::find(roots.begin(), roots.end(), key) == roots.end()) roots.push_back(key);
  return roots;
}

bool Application::join_cluster(Runtime& runtime, spdlog::logger& logger) const {
  try {
    const auto& node = config_.node;
    if (node.port) {
      auto port = runtime.publish(*node.port, node.host);
      logger.info("Node {} listening for nodes on {}:{}{}", runtime.node_id(), node.host, port,
                  node.tls.enabled() ? " (TLS)" : "");
    }
    for (const auto& peer : node.join) {
      auto [host, port] = *parse_node_address(peer);
      auto joined = runtime.join(host, port);
      logger.info("Joined node {} at {}", joined.id, peer);
    }
  } catch (const Error& error) {
    logger.critical("{}", error.detail());
    return false;
  }
  return true;
}

void Application::start_services(Runtime& runtime, spdlog::logger& logger) const {
  // Register and configure every listed instance, then start the enabled
  // ones, dependencies first (an autostarting one starts by itself once
  // configured, and is not started twice).
  std::set<std::string> started;
  for (const auto& instance : config_.services) {
    runtime.register_service(instance.type, instance.name);
    if (!instance.configuration.empty())
      runtime.configure(instance.name, instance.configuration, EventCause::startup);
    if (auto record = runtime.table().find(instance.name); record && is_active(record->state()))
      started.insert(instance.name);  // autostart
  }
  for (const auto& key : enabled_services_)
    if (!runtime.table().find(key)) runtime.register_service(key, key);
  // As each instance's class read its configuration.
  auto configuration_of = [&](const std::string& name) {
    auto record = runtime.table().find(name);
    return record ? record->view()->configuration : nullptr;
  };
  auto roots = start_roots([&](const std::string& name) {
    auto configuration = configuration_of(name);
    return configuration && configuration->enabled;
  });
  std::unordered_map<std::string, std::vector<std::string>> dependencies;
  for (const auto& name : roots)
    if (auto configuration = configuration_of(name)) dependencies[name] = configuration->depends_on;
  auto order = order_along(roots, [&](const std::string& name) {
    auto found = dependencies.find(name);
    return found == dependencies.end() ? nullptr : &found->second;
  });
  for (const auto& name : order.order) {
    if (!started.insert(name).second) continue;
    try {
      runtime.start(name, EventCause::startup);
      logger.info("Started service {}", name);
    } catch (const Error& error) {
      logger.error("Could not start service {}: {}", name, error.what());
    }
  }
}

void Application::reload(rest::Server& server, spdlog::logger& logger) {
  logger.info("SIGHUP: re-reading the token and TLS files");
  const auto& auth = config_.server.auth;
  try {
    auto tokens = config_.server.http.api.tokens;
    if (!auth.admin_token_file.empty())
      tokens.admin = read_token_file(auth.admin_token_file, "--admin-token-file");
    if (!auth.read_token_file.empty())
      tokens.read = read_token_file(auth.read_token_file, "--read-token-file");
    server.api().set_tokens(std::move(tokens));
  } catch (const ApplicationConfigError& error) {
    logger.error("Keeping the old tokens: {}", error.what());
  }
  if (config_.server.http.tls.enabled()) {
    try {
      server.reload_tls(config_.server.http.tls);
    } catch (const rest::TlsError& error) {
      logger.error("Keeping the old TLS files: {}", error.what());
    }
  }
}

int Application::run() {
  auto logger = make_logger("processpype.app");
  caf::actor_system_config actor_config;
  Runtime::add_types(actor_config);
  actor_config.set("scheduler.max-threads",
                   std::max<std::size_t>(2, std::thread::hardware_concurrency()));
  // An idle CAF worker polls with 50 µs sleeps for its first ~500 rounds
  // (CAF's "moderate" phase) before it waits on a condition variable that an
  // enqueue wakes: one request at a time then waits out a sleep on every
  // hop. Without that phase a hop costs one wake-up (docs/performance.md).
  actor_config.set("work-stealing.moderate-poll-attempts", std::size_t{0});
  // A sleeping worker steals only when its wait times out (CAF's default:
  // 10 ms), and work a busy worker queues for itself wakes nobody: 1 ms
  // keeps one busy actor from holding up the others' messages for long.
  actor_config.set("work-stealing.relaxed-sleep-duration",
                   caf::timespan{std::chrono::milliseconds(1)});
  actor_config.load<caf::io::middleman>();
  // CAF's own heartbeats only keep idle node connections busy: with
  // middleman.connection-timeout off (its default) CAF acts on no silence.
  // The Node actor's heartbeats find silent peers (docs/membership.md).
  actor_config.set("middleman.heartbeat-interval", caf::timespan{std::chrono::seconds(1)});
  const auto& node = config_.node;
  if (node.tls.enabled()) {
    try {
      Runtime::configure_node_tls(actor_config, node.tls);
    } catch (const Error& error) {
      logger->critical("{}", error.detail());
      return 2;
    }
  }
  caf::actor_system system{actor_config};
  RuntimeOptions runtime_options;
  runtime_options.node_id = node.id;
  runtime_options.application = {config_.app.title, config_.app.version};
  runtime_options.max_instances = config_.server.max_instances;
  runtime_options.heartbeat_interval =
      to_duration<std::chrono::milliseconds>(node.heartbeat_seconds);
  runtime_options.down_after = to_duration<std::chrono::milliseconds>(node.down_after_seconds);
  runtime_options.forget_after = to_duration<std::chrono::milliseconds>(node.forget_after_seconds);
  runtime_options.node_tls = node.tls.enabled();
  Runtime runtime{system, runtime_options};
  SystemdNotifier systemd{runtime};  // after the Runtime: it ends first

  const auto& http = config_.server.http;
  rest::Server server{runtime, http};  // before joining: peers learn its gateway
  server.api().set_application_state(ServiceState::starting);

  if (!join_cluster(runtime, *logger)) return 2;
  start_services(runtime, *logger);

  try {
    server.start();
  } catch (const std::exception& error) {
    logger->critical("{}", error.what());
    runtime.stop_all(
        to_duration<std::chrono::milliseconds>(config_.server.closing_timeout_seconds));
    return 1;
  }
  server.api().set_application_state(ServiceState::running);
  logger->info("{} {} serving on {}://{}:{}{}", config_.app.title, config_.app.version,
               http.tls.enabled() ? "https" : "http", http.host, http.port,
               rest::normalize_prefix(http.api.api_prefix));
  systemd.ready();

  auto signals = application_signals();
  for (int received = 0; sigwait(&signals, &received) == 0 && received == SIGHUP;)
    reload(server, *logger);
  systemd.stopping();

  if (node.port || !node.join.empty()) leave_cluster(runtime, *logger);
  auto closing_timeout = config_.server.closing_timeout_seconds;
  logger->info("Shutting down: stopping services (up to {} s)", closing_timeout);
  server.api().set_application_state(ServiceState::stopping);
  auto not_stopped = runtime.stop_all(to_duration<std::chrono::milliseconds>(closing_timeout));
  server.stop();
  if (!not_stopped.empty()) {
    logger->error("Services not stopped in time: {}", fmt::join(not_stopped, ", "));
    logger->flush();
    // A manager may still be stuck in a call on one of its threads: end the
    // process without running destructors under its feet.
    std::_Exit(1);
  }
  logger->info("Stopped");
  return 0;
}

}  // namespace processpype
