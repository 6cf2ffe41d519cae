#pragma once

#include <functional>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "processpype/config/application_config.hpp"

namespace processpype {

class Runtime;

namespace rest {
class Server;
}

/// The `processpype` process (docs/configuration.md): registers and
/// configures the instances of its configuration, starts the enabled ones in
/// dependency order, serves HTTP until SIGINT/SIGTERM (SIGHUP re-reads the
/// token, TLS and secrets files), then stops every running service,
/// dependents first, within `closing_timeout_seconds`.
class Application {
 public:
  /// `enabled_services`: class keys from ENABLED_SERVICES, to register (if
  /// no instance has that name) and start.
  Application(ApplicationConfig config, std::vector<std::string> enabled_services);

  /// Checks everything that can be checked before anything starts
  /// (validate_application_config) and reads the token files into the
  /// configuration. Throws ApplicationConfigError with the first problem,
  /// one line naming the key or file.
  void validate();

  /// Runs until SIGINT/SIGTERM (which the caller has blocked in every
  /// thread, with SIGHUP). Returns the exit code: 0 when every service
  /// stopped in time, 1 when some did not or the server could not start, 2
  /// when the node could not publish or join.
  int run();

 private:
  /// Publishes the node and joins the configured peers; false (logged) if
  /// either fails.
  bool join_cluster(Runtime& runtime, spdlog::logger& logger) const;
  /// The instances to start before their dependencies are put first: every
  /// instance of the file that `is_enabled`, then ENABLED_SERVICES, in order.
  std::vector<std::string> start_roots(
      const std::function<bool(const std::string&)>& is_enabled) const;
  void start_services(Runtime& runtime, spdlog::logger& logger) const;
  /// The secrets backends read with the file, into SecretStore::global()
  /// before any instance is configured (docs/secrets.md).
  void install_secrets(spdlog::logger& logger) const;
  /// SIGHUP: the secrets backends read again, or the old ones kept if any
  /// cannot be read.
  void reload_secrets(spdlog::logger& logger) const;
  /// SIGHUP: new token, TLS and secrets files, or the old ones if the new
  /// are bad.
  void reload(rest::Server& server, spdlog::logger& logger);

  ApplicationConfig config_;
  std::vector<std::string> enabled_services_;
};

/// The signals the main thread waits for (SIGINT, SIGTERM, SIGHUP); block
/// them before any other thread exists, so every thread inherits the mask.
void block_application_signals();

}  // namespace processpype
