#include "application.hpp"

#include <csignal>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "processpype/actors/node_directory.hpp"
#include "processpype/actors/quiet_work_stealing.hpp"
#include "processpype/actors/runtime.hpp"
#include "processpype/config/validation.hpp"
#include "processpype/rest/server.hpp"
#include "processpype/runtime/durations.hpp"
#include "processpype/runtime/logging.hpp"
#include "processpype/runtime/secrets.hpp"
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
void leave_nodes(Runtime& runtime, spdlog::logger& logger) {
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

Application::Application(ApplicationConfig config, std::vector<std::string> enabled_services,
                         bool reset_state)
    : config_(std::move(config)),
      enabled_services_(std::move(enabled_services)),
      reset_state_(reset_state) {}

void Application::validate() {
  ConfigDiagnostics diagnostics;
  validate_application_config(config_, enabled_services_, diagnostics);
  if (diagnostics.has_errors()) throw ApplicationConfigError(diagnostics.first_error().describe());
}

NodeInfo Application::join_when_it_answers(Runtime& runtime, const std::string& peer,
                                           spdlog::logger& logger) const {
  auto [host, port] = *parse_node_address(peer);
  const auto limit = config_.node.join_timeout_seconds;
  const auto deadline = std::chrono::steady_clock::now() + to_duration(limit);
  auto backoff = std::chrono::milliseconds(250);
  while (true) {
    try {
      return runtime.join(host, port);
    } catch (const Error& error) {
      auto now = std::chrono::steady_clock::now();
      if (error.code() != ErrorCode::unreachable || (limit > 0 && now >= deadline)) throw;
      auto wait = limit > 0 ? std::min<std::chrono::steady_clock::duration>(backoff, deadline - now)
                            : backoff;
      logger.warn("{}: retrying in {} ms (node.join_timeout_seconds: {})", error.detail(),
                  std::chrono::duration_cast<std::chrono::milliseconds>(wait).count(), limit);
      std::this_thread::sleep_for(wait);
    }
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
}

bool Application::join_nodes(Runtime& runtime, spdlog::logger& logger) const {
  try {
    const auto& node = config_.node;
    if (node.port || config_.cluster.enabled()) {
      auto port = runtime.publish(node.port.value_or(0), node.host);
      logger.info("Node {} listening for nodes on {}:{}{}", runtime.node_id(), node.host, port,
                  node.tls.enabled() ? " (TLS)" : "");
    }
    for (const auto& peer : node.join) {
      auto joined = join_when_it_answers(runtime, peer, logger);
      logger.info("Joined node {} at {}", joined.id, peer);
    }
  } catch (const Error& error) {
    logger.critical("{}", error.detail());
    return false;
  }
  return true;
}

bool Application::join_cluster_store(Runtime& runtime, spdlog::logger& logger) const {
  const auto& settings = config_.cluster;
  if (!settings.enabled()) return true;
  ClusterOptions options;
  auto& coordinator = options.coordinator;
  coordinator.store.endpoints = settings.store;
  coordinator.store.tls = {settings.store_ca, settings.store_certificate, settings.store_key};
  coordinator.cluster_name = settings.name;
  coordinator.lease_seconds =
      std::chrono::duration_cast<std::chrono::seconds>(to_duration(settings.lease_seconds));
  // Nodes started together all register before anything is placed, so
  // that the first one up does not take every instance (docs/cluster.md).
  coordinator.placement_delay =
      std::chrono::duration_cast<std::chrono::milliseconds>(coordinator.lease_seconds);
  const auto& http = config_.server.http;
  options.rest_url = fmt::format("{}://{}:{}", http.tls.enabled() ? "https" : "http",
                                 http.host == "0.0.0.0" ? "localhost" : http.host, http.port);
  std::vector<FileClusterInstance> file_instances;
  for (const auto& instance : config_.services) {
    if (!instance.cluster) continue;
    auto configuration = instance.configuration;
    bool enabled = configuration.value("enabled", true);
    file_instances.push_back(
        {instance.name, instance.type, instance.nodes, std::move(configuration), enabled});
  }
  try {
    runtime.join_cluster(std::move(options), std::move(file_instances));
  } catch (const Error& error) {
    logger.critical("cluster: {}", error.detail());
    return false;
  }
  logger.info("Cluster {} on {} (lease {} s)", settings.name, fmt::join(settings.store, ","),
              settings.lease_seconds);
  return true;
}

void Application::hand_over_cluster_instances(Runtime& runtime, spdlog::logger& logger) const {
  auto timeout = to_duration<std::chrono::milliseconds>(config_.server.closing_timeout_seconds);
  logger.info("Handing cluster instances over to other nodes");
  auto left_behind = runtime.cluster()->leave(timeout);
  if (!left_behind.empty())
    logger.warn("Not handed over in time (they move when this node's lease ends): {}",
                fmt::join(left_behind, ", "));
}

void Application::start_services(Runtime& runtime, spdlog::logger& logger) const {
  StartPlan plan;
  for (const auto& instance : config_.services)
    if (!instance.cluster)
      plan.file.push_back({instance.name, instance.type, instance.configuration});
  plan.enabled_services = enabled_services_;
  auto report = runtime.restore(plan);
  for (const auto& name : report.started) logger.info("Started service {}", name);
  for (const auto& [name, problem] : report.problems) logger.error("Service {}: {}", name, problem);
}

void Application::install_secrets(spdlog::logger& logger) const {
  if (!config_.secret_backends) return;
  const auto& backends = *config_.secret_backends;
  SecretStore::global().install(backends);
  for (const auto& declaration : unmatched_preloads(config_.secrets, backends))
    logger.warn("secrets.load: '{}' matches no secret", declaration);
  if (!backends.empty())
    logger.info("Secrets: {} backend(s), {} preloaded", backends.backend_names().size(),
                backends.preloaded().size());
}

void Application::reload_secrets(spdlog::logger& logger) const {
  if (config_.secrets.backends.empty()) return;
  ConfigDiagnostics diagnostics;
  auto backends = read_secret_backends(config_.secrets, diagnostics);
  if (diagnostics.has_errors()) {
    logger.error("Keeping the old secrets: {}", diagnostics.first_error().describe());
    return;
  }
  for (const auto& problem : diagnostics.problems()) logger.warn("{}", problem.describe());
  SecretStore::global().install(backends);
  logger.info("Secrets re-read: instances see new values at their next configure");
}

void Application::reload(rest::Server& server, spdlog::logger& logger) {
  logger.info("SIGHUP: re-reading the token, TLS and secrets files");
  reload_secrets(logger);
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
  // That timer runs only while the node is busy: once idle, a worker
  // sleeps until woken (quiet_work_stealing.hpp).
  actor_config.set("work-stealing.relaxed-sleep-duration",
                   caf::timespan{std::chrono::milliseconds(1)});
  use_quiet_work_stealing(actor_config);
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
  if (!config_.state.path.empty())
    runtime_options.state = state::StateStoreOptions{
        config_.state.path, *state::sync_mode_from_string(config_.state.sync)};
  runtime_options.reset_state = reset_state_;
  runtime_options.communications = communications_options(config_.communications);
  std::optional<Runtime> runtime_holder;
  try {
    runtime_holder.emplace(system, runtime_options);
  } catch (const state::StateError& error) {
    logger->critical("{}", error.what());
    return 2;
  } catch (const communications::InvalidSettings& error) {  // checked when read: a file gone since
    logger->critical("communications: {}", error.what());
    return 2;
  }
  auto& runtime = *runtime_holder;
  if (const auto& store = runtime.state_store())
    logger->info("State file {} (sync {}{})", store->path().string(),
                 state::to_string(store->sync()), reset_state_ ? ", reset" : "");
  SystemdNotifier systemd{runtime};  // after the Runtime: it ends first

  const auto& http = config_.server.http;
  rest::Server server{runtime, http};  // before joining: peers learn its gateway
  server.api().set_application_state(ServiceState::starting);

  if (!join_nodes(runtime, *logger)) return 2;
  install_secrets(*logger);
  start_services(runtime, *logger);

  try {
    server.start();
  } catch (const std::exception& error) {
    logger->critical("{}", error.what());
    runtime.stop_all(
        to_duration<std::chrono::milliseconds>(config_.server.closing_timeout_seconds));
    return 1;
  }
  if (!join_cluster_store(runtime, *logger)) {
    runtime.stop_all(
        to_duration<std::chrono::milliseconds>(config_.server.closing_timeout_seconds));
    server.stop();
    return 2;
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

  if (runtime.cluster()) hand_over_cluster_instances(runtime, *logger);
  if (node.port || !node.join.empty() || config_.cluster.enabled()) leave_nodes(runtime, *logger);
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
