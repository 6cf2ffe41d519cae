#include "application.hpp"

#include <csignal>
#include <set>

#include <fmt/format.h>
#include <caf/io/all.hpp>

#include "processpype/actors/node_directory.hpp"
#include "processpype/actors/runtime.hpp"
#include "processpype/rest/server.hpp"
#include "processpype/runtime/logging.hpp"
#include "processpype/runtime/service_registry.hpp"

namespace processpype {

namespace {

std::chrono::milliseconds to_milliseconds(double seconds) {
  return std::chrono::milliseconds{static_cast<std::int64_t>(seconds * 1000.0)};
}

bool is_enabled(const ServiceInstanceConfig& instance) {
  auto enabled = instance.configuration.find("enabled");
  return enabled == instance.configuration.end() || *enabled != false;
}

bool starts_by_itself(const ServiceInstanceConfig& instance) {
  auto autostart = instance.configuration.find("autostart");
  return is_enabled(instance) && autostart != instance.configuration.end() && *autostart == true;
}

void wait_for_termination_signal() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  int received = 0;
  sigwait(&signals, &received);
}

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

Application::Application(ApplicationConfig config, std::vector<std::string> enabled_services)
    : config_(std::move(config)), enabled_services_(std::move(enabled_services)) {}

void Application::validate() const {
  auto& registry = ServiceClassRegistry::global();
  for (const auto& instance : config_.services) {
    auto where = fmt::format("services.{}", instance.name);
    if (!is_valid_instance_name(instance.name))
      throw ApplicationConfigError(
          fmt::format("{}: invalid instance name: use 1-64 characters of [A-Za-z0-9_.-]", where));
    auto service_class = registry.find(instance.type);
    if (!service_class)
      throw ApplicationConfigError(
          fmt::format("{}.type: unknown service type '{}'", where, instance.type));
    try {
      service_class->create(instance.name)->create_configuration()->load(instance.configuration);
    } catch (const Error& error) {
      throw ApplicationConfigError(fmt::format("{}: {}", where, error.what()));
    }
  }
  for (const auto& key : enabled_services_)
    if (!registry.find(key))
      throw ApplicationConfigError(fmt::format("ENABLED_SERVICES: unknown service type '{}'", key));
  for (const auto& peer : config_.join)
    if (!parse_node_address(peer))
      throw ApplicationConfigError(
          fmt::format("--join: '{}' is not a node address (HOST:PORT)", peer));
}

bool Application::join_cluster(Runtime& runtime, spdlog::logger& logger) const {
  try {
    if (config_.node_port) {
      auto port = runtime.publish(*config_.node_port, config_.node_host);
      logger.info("Node {} listening for nodes on {}:{} (CAF BASP, unauthenticated)",
                  runtime.node_id(), config_.node_host, port);
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

int Application::run() {
  auto logger = make_logger("processpype.app");
  caf::actor_system_config actor_config;
  Runtime::add_types(actor_config);
  actor_config.set("scheduler.max-threads",
                   std::max<std::size_t>(2, std::thread::hardware_concurrency()));
  actor_config.load<caf::io::middleman>();
  // Peers that stop answering (not only closed connections) are noticed.
  actor_config.set("middleman.heartbeat-interval", caf::timespan{std::chrono::seconds(1)});
  caf::actor_system system{actor_config};
  Runtime runtime{system, RuntimeOptions{std::chrono::seconds(5), config_.node_id}};

  if (!join_cluster(runtime, *logger)) return 2;

  // Register and configure every listed instance, then start the enabled
  // ones (an autostarting one starts by itself once configured).
  std::set<std::string> started;
  for (const auto& instance : config_.services) {
    runtime.register_service(instance.type, instance.name);
    if (!instance.configuration.empty()) runtime.configure(instance.name, instance.configuration);
  }
  auto start = [&](const std::string& name) {
    if (!started.insert(name).second) return;
    try {
      runtime.start(name);
      logger->info("Started service {}", name);
    } catch (const Error& error) {
      logger->error("Could not start service {}: {}", name, error.what());
    }
  };
  for (const auto& instance : config_.services) {
    if (starts_by_itself(instance)) started.insert(instance.name);
    if (is_enabled(instance)) start(instance.name);
  }
  for (const auto& key : enabled_services_) {
    auto listed = std::any_of(config_.services.begin(), config_.services.end(),
                              [&](const auto& instance) { return instance.name == key; });
    if (!listed) runtime.register_service(key, key);
    start(key);
  }

  rest::Server server{
      system, rest::ApiTargets{runtime.supervisor(), runtime.node(), runtime.directory()},
      rest::ServerOptions{config_.host, config_.port, config_.api_prefix, config_.version, 1}};
  try {
    server.start();
  } catch (const std::exception& error) {
    logger->critical("{}", error.what());
    runtime.stop_all(to_milliseconds(config_.closing_timeout_seconds));
    return 1;
  }
  logger->info("{} {} serving on http://{}:{}{}", config_.title, config_.version, config_.host,
               config_.port, rest::normalize_prefix(config_.api_prefix));

  wait_for_termination_signal();
  logger->info("Shutting down: stopping services (up to {} s)", config_.closing_timeout_seconds);
  server.api().set_application_state(ServiceState::stopping);
  auto not_stopped = runtime.stop_all(to_milliseconds(config_.closing_timeout_seconds));
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
