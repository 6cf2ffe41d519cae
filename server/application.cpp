#include "application.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "listen_probe.hpp"
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

/// What is left of `deadline`, never negative.
std::chrono::milliseconds time_left(std::chrono::steady_clock::time_point deadline) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
      std::max<std::chrono::steady_clock::duration>(deadline - std::chrono::steady_clock::now(),
                                                    std::chrono::steady_clock::duration::zero()));
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

/// SIGINT, SIGTERM and SIGHUP, read by a thread of its own from the start of
/// run() (docs/configuration.md, "Signals"), so that a stop is seen during
/// startup too: the join retries and the wait for the file's services end
/// at once. A SIGHUP during startup is kept for when the node serves.
class StopSignals {
 public:
  StopSignals() : thread_([this] { read(); }) {}
  ~StopSignals() {
    {
      std::lock_guard lock(mutex_);
      closing_ = true;
    }
    // Wakes the reader's sigwait (the signal is blocked in every thread).
    pthread_kill(thread_.native_handle(), SIGHUP);
    thread_.join();
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  /// The stop signal received (SIGINT or SIGTERM), or 0.
  int stop() const {
    std::lock_guard lock(mutex_);
    return stop_;
  }
  /// Waits until a stop or `until`; the stop signal, or 0.
  int wait_for_stop(std::chrono::steady_clock::time_point until) const {
    std::unique_lock lock(mutex_);
    changed_.wait_until(lock, until, [this] { return stop_ != 0; });
    return stop_;
  }
  /// Waits until a stop or `done()` (call wake() when it may have become
  /// true); the stop signal, or 0 when `done()` holds first.
  template <class Done>
  int wait_for_stop_or(Done done) const {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return stop_ != 0 || done(); });
    return stop_;
  }
  /// Like wait_for_stop_or, up to `until`: whether `done()` holds.
  template <class Done>
  bool wait_for(Done done, std::chrono::steady_clock::time_point until) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_until(lock, until, done);
  }
  void wake() {
    std::lock_guard lock(mutex_);
    changed_.notify_all();
  }
  /// Waits for the next signal once the node serves: the stop signal once
  /// one came, else SIGHUP (one for any number received since the last).
  int next() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return stop_ != 0 || reload_; });
    if (stop_ != 0) return stop_;
    reload_ = false;
    return SIGHUP;
  }

 private:
  void read() {
    auto signals = application_signals();
    for (int received = 0; sigwait(&signals, &received) == 0;) {
      std::lock_guard lock(mutex_);
      if (closing_) return;
      if (received == SIGHUP)
        reload_ = true;
      else if (stop_ == 0)
        stop_ = received;
      changed_.notify_all();
    }
  }

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  int stop_ = 0;
  bool reload_ = false;
  bool closing_ = false;
  std::thread thread_;  // last: starts once the fields above exist
};

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
  for (const auto& value : config_.resolved_secrets) diagnostics.hide(value);
  validate_application_config(config_, enabled_services_, diagnostics);
  if (diagnostics.has_errors()) throw ApplicationConfigError(diagnostics.first_error().describe());
}

std::optional<NodeInfo> Application::join_when_it_answers(Runtime& runtime, const std::string& peer,
                                                          spdlog::logger& logger,
                                                          const StopSignals& signals) const {
  auto [host, port] = *parse_node_address(peer);
  const auto limit = config_.node.join_timeout_seconds;
  const auto deadline = std::chrono::steady_clock::now() + to_duration(limit);
  auto backoff = std::chrono::milliseconds(250);
  while (signals.stop() == 0) {
    try {
      return runtime.join(host, port);
    } catch (const Error& error) {
      auto now = std::chrono::steady_clock::now();
      if (error.code() != ErrorCode::unreachable || (limit > 0 && now >= deadline)) throw;
      auto wait = limit > 0 ? std::min<std::chrono::steady_clock::duration>(backoff, deadline - now)
                            : backoff;
      logger.warn("{}: retrying in {} ms (node.join_timeout_seconds: {})", error.detail(),
                  std::chrono::duration_cast<std::chrono::milliseconds>(wait).count(), limit);
      // A stop ends the wait at once (docs/configuration.md, "Signals").
      if (signals.wait_for_stop(now + wait) != 0) break;
    }
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
  return std::nullopt;
}

bool Application::can_listen(spdlog::logger& logger) const {
  const auto& http = config_.server.http;
  auto problem = listen_problem(http.host, http.port);
  if (problem) logger.critical("Cannot listen on {}:{}: {}", http.host, http.port, *problem);
  return !problem;
}

int Application::join_nodes(Runtime& runtime, spdlog::logger& logger,
                            const StopSignals& signals) const {
  try {
    const auto& node = config_.node;
    if (node.port || config_.cluster.enabled()) {
      auto port = runtime.publish(node.port.value_or(0), node.host);
      logger.info("Node {} listening for nodes on {}:{}{}", runtime.node_id(), node.host, port,
                  node.tls.enabled() ? " (TLS)" : "");
    }
    for (const auto& peer : node.join) {
      auto joined = join_when_it_answers(runtime, peer, logger, signals);
      if (!joined) return 0;  // stopped: run() shuts down
      logger.info("Joined node {} at {}", joined->id, peer);
    }
  } catch (const Error& error) {
    logger.critical("{}", error.detail());
    // Only a target that never answered may answer later: systemd restarts
    // the node for that, and not for a refusal (docs/packaging.md).
    return error.code() == ErrorCode::unreachable ? exit_unavailable : 2;
  }
  return 0;
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
    logger.critical("cluster: {}", redact_values(error.detail(), config_.resolved_secrets));
    return false;
  }
  logger.info(
      "Cluster {} on {} (lease {} s)", settings.name,
      redact_values(fmt::format("{}", fmt::join(settings.store, ",")), config_.resolved_secrets),
      settings.lease_seconds);
  return true;
}

void Application::hand_over_cluster_instances(
    Runtime& runtime, spdlog::logger& logger,
    std::chrono::steady_clock::time_point deadline) const {
  logger.info("Handing cluster instances over to other nodes");
  auto left_behind = runtime.cluster()->leave(time_left(deadline));
  if (!left_behind.empty())
    logger.warn(
        "Not handed over in time (each moves once its copy here stopped, or when this node's "
        "lease ends after it exits): {}",
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

std::vector<std::string> Application::stop_while_starting(
    Runtime& runtime, const StopSignals& signals, const std::atomic<bool>& started,
    std::chrono::steady_clock::time_point deadline) const {
  using std::chrono::steady_clock;
  // A manager's start cannot be cut short, and the start of the file's
  // services goes on with the next instance: each round stops what it has
  // brought up so far (an instance in `starting` once its start returns),
  // until it returns or the deadline has passed.
  while (true) {
    bool finished = started.load();
    auto not_stopped = runtime.stop_all(time_left(deadline));
    if (finished) return not_stopped;
    if (!not_stopped.empty() || steady_clock::now() >= deadline) {
      if (not_stopped.empty()) not_stopped.push_back("(the start of the file's services)");
      return not_stopped;
    }
    signals.wait_for([&] { return started.load(); },
                     std::min(deadline, steady_clock::now() + std::chrono::milliseconds(100)));
  }
}

int Application::run() {
  // Reads the stop signals from here on (blocked in every thread: main.cpp).
  StopSignals signals;
  auto logger = make_logger("processpype.app");
  // Exit code 1 as when the listener itself fails: systemd restarts the
  // node, and the port may be free by then (docs/packaging.md).
  if (!can_listen(*logger)) return 1;
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

  if (int failed = join_nodes(runtime, *logger, signals)) return failed;
  // A stop during startup ends it here, and the node shuts down as it would
  // once serving (docs/configuration.md, "Signals").
  int stop = signals.stop();
  std::atomic<bool> started{false};
  std::exception_ptr start_failure;
  std::thread starter;
  if (stop == 0) {
    install_secrets(*logger);
    logger->info("Starting the services of the configuration and the state file");
    // The file's services start on a thread of their own, so that a stop
    // need not wait for every start.
    starter = std::thread([&] {
      try {
        start_services(runtime, *logger);
      } catch (...) {
        start_failure = std::current_exception();
      }
      started = true;
      signals.wake();
    });
    stop = signals.wait_for_stop_or([&] { return started.load(); });
    if (started) {
      starter.join();
      if (start_failure) std::rethrow_exception(start_failure);
    }
  }

  if (stop == 0) {
    // The store first: a request that the server takes must find the
    // cluster (docs/configuration.md), not "cluster placement needs
    // cluster.store" for the moments between the two.
    if (!join_cluster_store(runtime, *logger)) {
      runtime.stop_all(
          to_duration<std::chrono::milliseconds>(config_.server.closing_timeout_seconds));
      return 2;
    }
    try {
      server.start();
    } catch (const std::exception& error) {  // taken since can_listen: rare
      logger->critical("{}", error.what());
      auto budget = to_duration<std::chrono::milliseconds>(config_.server.closing_timeout_seconds);
      auto closing_deadline = std::chrono::steady_clock::now() + budget;
      if (runtime.cluster())
        hand_over_cluster_instances(runtime, *logger, closing_deadline - budget / 2);
      runtime.stop_all(time_left(closing_deadline));
      return 1;
    }
    server.api().set_application_state(ServiceState::running);
    logger->info("{} {} serving on {}://{}:{}{}", config_.app.title, config_.app.version,
                 http.tls.enabled() ? "https" : "http", http.host, http.port,
                 rest::normalize_prefix(http.api.api_prefix));
    systemd.ready();
    while ((stop = signals.next()) == SIGHUP) reload(server, *logger);
  } else {
    logger->info("{} during startup: startup abandoned", stop == SIGINT ? "SIGINT" : "SIGTERM");
  }
  systemd.stopping();

  // One budget for the whole shutdown, the cluster hand-over included:
  // systemd's TimeoutStopSec is sized on closing_timeout_seconds
  // (docs/packaging.md, "Stopping"). The hand-over may take half of it, so
  // that the node's own services always get a stop, with the rest.
  auto closing_timeout = config_.server.closing_timeout_seconds;
  auto budget = to_duration<std::chrono::milliseconds>(closing_timeout);
  auto closing_deadline = std::chrono::steady_clock::now() + budget;
  if (runtime.cluster())
    hand_over_cluster_instances(runtime, *logger, closing_deadline - budget / 2);
  if (node.port || !node.join.empty() || config_.cluster.enabled()) leave_nodes(runtime, *logger);
  logger->info("Shutting down: stopping services (up to {} s)", closing_timeout);
  server.api().set_application_state(ServiceState::stopping);
  auto not_stopped = starter.joinable() && !started
                         ? stop_while_starting(runtime, signals, started, closing_deadline)
                         : runtime.stop_all(time_left(closing_deadline));
  server.stop();
  if (!not_stopped.empty()) {
    logger->error("Services not stopped in time: {}", fmt::join(not_stopped, ", "));
    logger->flush();
    // A manager may still be stuck in a call on one of its threads (or the
    // start of the file's services on its own): end the process without
    // running destructors under its feet.
    std::_Exit(1);
  }
  if (starter.joinable()) starter.join();  // returned: stop_while_starting saw it
  logger->info("Stopped");
  return 0;
}

}  // namespace processpype
