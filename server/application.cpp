#include "application.hpp"

#include <arpa/inet.h>
#include <netdb.h>

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
#include "processpype/rest/server.hpp"
#include "processpype/runtime/configuration.hpp"
#include "processpype/runtime/dependencies.hpp"
#include "processpype/runtime/durations.hpp"
#include "processpype/runtime/logging.hpp"
#include "processpype/runtime/service_registry.hpp"

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

/// Whether `host` only reaches this machine: a loopback address or a name
/// that resolves to loopback addresses only.
bool is_loopback(const std::string& host) {
  if (host == "localhost") return true;
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0) return false;
  bool loopback = true;
  for (auto* entry = found; entry != nullptr; entry = entry->ai_next) {
    if (entry->ai_family == AF_INET) {
      auto address = ntohl(reinterpret_cast<sockaddr_in*>(entry->ai_addr)->sin_addr.s_addr);
      loopback = loopback && (address >> 24) == 127;
    } else if (entry->ai_family == AF_INET6) {
      const auto& address = reinterpret_cast<sockaddr_in6*>(entry->ai_addr)->sin6_addr;
      loopback = loopback && IN6_IS_ADDR_LOOPBACK(&address);
    } else {
      loopback = false;
    }
  }
  freeaddrinfo(found);
  return loopback;
}

/// Node TLS files that can be used, and no node port open to other
/// machines without TLS unless node.allow_insecure; throws
/// ApplicationConfigError naming the file or the host.
void check_node_settings(const ApplicationConfig& config) {
  const auto& tls = config.node_tls;
  if (tls.enabled() || !tls.ca.empty()) {
    try {
      Runtime::check_node_tls_files(tls);
    } catch (const Error& error) {
      throw ApplicationConfigError(error.detail());
    }
  }
  if (config.node_port && !tls.enabled() && !config.node_allow_insecure &&
      !is_loopback(config.node_host))
    throw ApplicationConfigError(fmt::format(
        "refusing to publish the node port on {} without node.tls; set node.allow_insecure: "
        "true to override",
        config.node_host));
}

/// Tells the other nodes that this one leaves (they list it down at once).
void leave_cluster(Runtime& runtime, spdlog::logger& logger) {
  try {
    runtime.leave();
  } catch (const Error& error) {
    logger.warn("Could not tell the other nodes that this node leaves: {}", error.detail());
  }
}

/// The configuration of each instance as its class reads it (for
/// `depends_on` and `enabled`); throws ApplicationConfigError naming it.
struct PlannedInstance {
  std::vector<std::string> depends_on;
  bool enabled = true;
};

}  // namespace

std::vector<std::string> parse_enabled_services(const char* value) {
  std::vector<std::string> keys;
  if (value == nullptr) return keys;
  std::string_view text{value};
  while (!text.empty()) {
    auto comma = text.find(',');
    auto entry = text.substr(0, comma);
    auto first = entry.find_first_not_of(" \t");
    if (first != std::string_view::npos)
      keys.emplace_back(entry.substr(first, entry.find_last_not_of(" \t") - first + 1));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return keys;
}

std::string read_token_file(const std::string& path, const std::string& what) {
  std::ifstream file{path};
  if (!file) throw ApplicationConfigError(fmt::format("{} {}: cannot read the file", what, path));
  std::stringstream content;
  content << file.rdbuf();
  auto token = content.str();
  auto first = token.find_first_not_of(" \t\r\n");
  if (first == std::string::npos)
    throw ApplicationConfigError(fmt::format("{} {}: the file is empty", what, path));
  return token.substr(first, token.find_last_not_of(" \t\r\n") - first + 1);
}

void block_application_signals() {
  auto signals = application_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

Application::Application(ApplicationConfig config, std::vector<std::string> enabled_services)
    : config_(std::move(config)), enabled_services_(std::move(enabled_services)) {}

void Application::validate() {
  auto& registry = ServiceClassRegistry::global();
  std::unordered_map<std::string, PlannedInstance> planned;
  for (const auto& instance : config_.services) {
    auto where = fmt::format("services.{}", instance.name);
    if (!is_valid_instance_name(instance.name))
      throw ApplicationConfigError(
          fmt::format("{}: invalid instance name: use 1-64 characters of [A-Za-z0-9_.-]", where));
    if (planned.count(instance.name) != 0)
      throw ApplicationConfigError(fmt::format("{}: listed twice", where));
    auto service_class = registry.find(instance.type);
    if (!service_class)
      throw ApplicationConfigError(
          fmt::format("{}.type: unknown service type '{}'", where, instance.type));
    auto configuration = service_class->create(instance.name)->create_configuration();
    try {
      configuration->load(instance.configuration);
    } catch (const Error& error) {
      throw ApplicationConfigError(fmt::format("{}: {}", where, error.what()));
    }
    planned[instance.name] = {configuration->depends_on, configuration->enabled};
  }
  for (const auto& key : enabled_services_) {
    if (!registry.find(key))
      throw ApplicationConfigError(fmt::format("ENABLED_SERVICES: unknown service type '{}'", key));
    planned.try_emplace(key, PlannedInstance{});
  }
  auto order =
      order_along(start_roots([&](const std::string& name) { return planned.at(name).enabled; }),
                  [&](const std::string& name) {
                    auto found = planned.find(name);
                    return found == planned.end() ? nullptr : &found->second.depends_on;
                  });
  if (order.cycle)
    throw ApplicationConfigError(
        fmt::format("services: dependency cycle {}", describe_cycle(*order.cycle)));
  if (!order.unknown.empty())
    throw ApplicationConfigError(
        fmt::format("services: depends_on names unknown instance '{}'", order.unknown.front()));
  for (const auto& peer : config_.join)
    if (!parse_node_address(peer))
      throw ApplicationConfigError(
          fmt::format("--join: '{}' is not a node address (HOST:PORT)", peer));
  check_node_settings(config_);

  auto& auth = config_.auth;
  if (!auth.admin_token_file.empty())
    auth.admin_token = read_token_file(auth.admin_token_file, "--admin-token-file");
  if (!auth.read_token_file.empty())
    auth.read_token = read_token_file(auth.read_token_file, "--read-token-file");
  if (auth.read_token && !auth.admin_token)
    throw ApplicationConfigError(
        "server.auth.read_token: a read token needs an admin token (server.auth.admin_token)");
  if (!auth.admin_token && !auth.allow_anonymous && !is_loopback(config_.host))
    throw ApplicationConfigError(
        fmt::format("refusing to serve {} without server.auth.admin_token; set "
                    "server.auth.allow_anonymous: true to override",
                    config_.host));
  if (config_.tls.enabled()) {
    try {
      rest::check_tls_files(config_.tls);
    } catch (const rest::TlsError& error) {
      throw ApplicationConfigError(fmt::format("server.tls: {}", error.what()));
    }
  }
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
    if (config_.node_port) {
      auto port = runtime.publish(*config_.node_port, config_.node_host);
      logger.info("Node {} listening for nodes on {}:{}{}", runtime.node_id(), config_.node_host,
                  port, config_.node_tls.enabled() ? " (TLS)" : "");
    }
    for (const auto& peer : config_.join) {
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
  try {
    auto tokens =
        rest::Tokens{config_.auth.admin_token.value_or(""), config_.auth.read_token.value_or("")};
    if (!config_.auth.admin_token_file.empty())
      tokens.admin = read_token_file(config_.auth.admin_token_file, "--admin-token-file");
    if (!config_.auth.read_token_file.empty())
      tokens.read = read_token_file(config_.auth.read_token_file, "--read-token-file");
    server.api().set_tokens(std::move(tokens));
  } catch (const ApplicationConfigError& error) {
    logger.error("Keeping the old tokens: {}", error.what());
  }
  if (config_.tls.enabled()) {
    try {
      server.reload_tls(config_.tls);
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
  bool node_tls = config_.node_tls.enabled();
  if (node_tls) {
    try {
      Runtime::configure_node_tls(actor_config, config_.node_tls);
    } catch (const Error& error) {
      logger->critical("{}", error.detail());
      return 2;
    }
  }
  caf::actor_system system{actor_config};
  RuntimeOptions runtime_options;
  runtime_options.node_id = config_.node_id;
  runtime_options.application = {config_.title, config_.version};
  runtime_options.max_instances = config_.limits.max_instances;
  runtime_options.heartbeat_interval =
      to_duration<std::chrono::milliseconds>(config_.heartbeat_seconds);
  runtime_options.down_after = to_duration<std::chrono::milliseconds>(config_.down_after_seconds);
  runtime_options.forget_after =
      to_duration<std::chrono::milliseconds>(config_.forget_after_seconds);
  runtime_options.node_tls = node_tls;
  Runtime runtime{system, runtime_options};

  rest::ServerOptions server_options;
  server_options.host = config_.host;
  server_options.port = config_.port;
  server_options.limits = config_.limits;
  server_options.tls = config_.tls;
  server_options.api.api_prefix = config_.api_prefix;
  server_options.api.tokens = {config_.auth.admin_token.value_or(""),
                               config_.auth.read_token.value_or("")};
  server_options.api.access_log = config_.access_log;
  server_options.api.collect_metrics = config_.collect_metrics;
  rest::Server server{runtime, server_options};  // before joining: peers learn its gateway
  server.api().set_application_state(ServiceState::starting);

  if (!join_cluster(runtime, *logger)) return 2;
  start_services(runtime, *logger);

  try {
    server.start();
  } catch (const std::exception& error) {
    logger->critical("{}", error.what());
    runtime.stop_all(to_duration<std::chrono::milliseconds>(config_.closing_timeout_seconds));
    return 1;
  }
  server.api().set_application_state(ServiceState::running);
  logger->info("{} {} serving on {}://{}:{}{}", config_.title, config_.version,
               config_.tls.enabled() ? "https" : "http", config_.host, config_.port,
               rest::normalize_prefix(config_.api_prefix));

  auto signals = application_signals();
  for (int received = 0; sigwait(&signals, &received) == 0 && received == SIGHUP;)
    reload(server, *logger);

  if (config_.node_port || !config_.join.empty()) leave_cluster(runtime, *logger);
  logger->info("Shutting down: stopping services (up to {} s)", config_.closing_timeout_seconds);
  server.api().set_application_state(ServiceState::stopping);
  auto not_stopped =
      runtime.stop_all(to_duration<std::chrono::milliseconds>(config_.closing_timeout_seconds));
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
