#pragma once

#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "processpype/runtime/application_config.hpp"

namespace processpype {

class Runtime;

/// The `processpype` process (SPEC 3): registers and configures the
/// instances of its configuration, starts the enabled ones, serves HTTP
/// until SIGINT/SIGTERM, then stops every running service in reverse start
/// order within `closing_timeout_seconds`.
class Application {
 public:
  /// `enabled_services`: class keys from ENABLED_SERVICES, to register (if
  /// no instance has that name) and start.
  Application(ApplicationConfig config, std::vector<std::string> enabled_services);

  /// Checks everything that can be checked before anything starts: service
  /// types, instance names, configurations, ENABLED_SERVICES keys. Throws
  /// ApplicationConfigError with one line naming the key.
  void validate() const;

  /// Runs until SIGINT/SIGTERM (which the caller has blocked in every
  /// thread). Returns the exit code: 0 when every service stopped in time,
  /// 1 when some did not or the server could not start.
  int run();

 private:
  /// Publishes the node and joins the configured peers; false (logged) if
  /// either fails.
  bool join_cluster(Runtime& runtime, spdlog::logger& logger) const;

  ApplicationConfig config_;
  std::vector<std::string> enabled_services_;
};

/// ENABLED_SERVICES=" a, b,," → {"a", "b"}: trimmed, empty entries dropped.
std::vector<std::string> parse_enabled_services(const char* value);

}  // namespace processpype
