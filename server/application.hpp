#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "processpype/config/application_config.hpp"

namespace processpype {

class Runtime;
struct NodeInfo;
class StopSignals;

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
  /// no instance has that name) and start. `reset_state`: `--reset-state`.
  Application(ApplicationConfig config, std::vector<std::string> enabled_services,
              bool reset_state = false);

  /// Checks everything that can be checked before anything starts
  /// (validate_application_config) and reads the token files into the
  /// configuration. Throws ApplicationConfigError with the first problem,
  /// one line naming the key or file.
  void validate();

  /// Runs until SIGINT/SIGTERM (which the caller has blocked in every
  /// thread, with SIGHUP; a thread of run() reads them from its start, so a
  /// stop during startup ends the startup and shuts down). Returns the exit
  /// code: 0 when every service stopped in time; 1 when some did not, or the
  /// server cannot listen (checked before any service starts); 2 when the
  /// node could not publish or a join was refused; 75 when a join target did
  /// not answer within node.join_timeout_seconds (worth a restart, unlike 2:
  /// docs/packaging.md). A cluster node also exits with 2 when its id is
  /// registered by a live node, and 70 when its lease is lost while a
  /// cluster instance still runs (docs/cluster.md).
  int run();

  /// The exit code of a start that failed for a reason that may pass (a join
  /// target that never answered): sysexits.h's EX_TEMPFAIL.
  static constexpr int exit_unavailable = 75;

 private:
  /// Whether the HTTP listener can bind server.host:server.port, probed
  /// before anything starts: a node that cannot serve then starts no
  /// service at all, instead of starting and stopping every one at each of
  /// systemd's restarts (docs/configuration.md). Logs why not. The port
  /// may still be taken before the listener binds it.
  bool can_listen(spdlog::logger& logger) const;
  /// Publishes the node (on any free port when it has a cluster store but
  /// no node.port: peers carry commands there) and joins the configured
  /// peers. Returns 0, or the exit code (logged) if either fails: 2 for a
  /// refusal, exit_unavailable for a target that never answered. A stop
  /// signal ends the joins (0: run() sees the stop).
  int join_nodes(Runtime& runtime, spdlog::logger& logger, const StopSignals& signals) const;
  /// With cluster.store: registers in the store and takes part in the
  /// placement of cluster instances, the file's included (docs/cluster.md).
  /// False (logged) for settings the store cannot take.
  bool join_cluster_store(Runtime& runtime, spdlog::logger& logger) const;
  /// SIGTERM with a cluster store: hands this node's cluster instances over
  /// to other nodes, then leaves the store, by `deadline` (the shutdown's).
  void hand_over_cluster_instances(Runtime& runtime, spdlog::logger& logger,
                                   std::chrono::steady_clock::time_point deadline) const;
  /// Joins `peer`; one that does not answer yet (nodes of a cluster start in
  /// any order) is retried with backoff for node.join_timeout_seconds (0:
  /// forever); a refusal is thrown at once. Nullopt once a stop signal
  /// came (it ends the wait between tries at once).
  std::optional<NodeInfo> join_when_it_answers(Runtime& runtime, const std::string& peer,
                                               spdlog::logger& logger,
                                               const StopSignals& signals) const;
  /// A stop while the file's services start (start_services on its own
  /// thread; `started` once it returned): stops what it started, round after
  /// round, until it returns or `deadline` (the shutdown's) has passed.
  /// Returns the instances not stopped, or a placeholder when the start
  /// still runs.
  std::vector<std::string> stop_while_starting(
      Runtime& runtime, const StopSignals& signals, const std::atomic<bool>& started,
      std::chrono::steady_clock::time_point deadline) const;
  /// Registers the file's instances and the state file's layer, and starts
  /// them by desired state (Runtime::restore), logging what went wrong.
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
  bool reset_state_ = false;
};

/// The signals the main thread waits for (SIGINT, SIGTERM, SIGHUP); block
/// them before any other thread exists, so every thread inherits the mask.
void block_application_signals();

}  // namespace processpype
