#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "processpype/actors/runtime.hpp"
#include "processpype/communications/settings.hpp"
#include "processpype/config/diagnostics.hpp"
#include "processpype/config/secrets.hpp"
#include "processpype/rest/server.hpp"
#include "processpype/runtime/logging.hpp"

namespace processpype {

/// A configuration file that cannot be used: bad YAML, an unset `${VAR}`,
/// a value of the wrong type, an unknown key. what() is one line naming the
/// file and the key of the first problem.
class ApplicationConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// `app`: who the application is.
struct AppSettings {
  std::string title = "ProcessPype";
  std::string version;
  std::string environment = "development";
  bool debug = false;
};

/// `server.auth` (docs/security.md): tokens from the file, or from files
/// named by `--admin-token-file` / `--read-token-file`.
struct AuthSettings {
  std::optional<std::string> admin_token;
  std::optional<std::string> read_token;
  std::string admin_token_file;
  std::string read_token_file;
  bool allow_anonymous = false;
};

/// `server` (and `logging.access_log`, which the HTTP server writes).
struct ServerSettings {
  /// Host, port, limits, TLS and the API's options; the tokens in
  /// `http.api.tokens` are filled from `auth` by validation.
  rest::ServerOptions http;
  AuthSettings auth;
  /// `server.limits.max_instances`: registrations beyond it are refused.
  std::size_t max_instances = 100000;
  double closing_timeout_seconds = 60.0;
};

/// `logging`.
struct LoggingSettings {
  std::string level = "info";
  LogFormat format = LogFormat::text;
  /// `logging.loggers`: a level per logger name, in file order.
  std::vector<std::pair<std::string, std::string>> loggers;
};

/// `node` (docs/membership.md): distribution across nodes.
struct NodeSettings {
  /// Publish on this port when set.
  std::optional<std::uint16_t> port;
  std::string host = "127.0.0.1";
  std::string id;
  std::vector<std::string> join;
  /// How long a `join` target that does not answer yet is retried before
  /// the start fails (0: forever).
  double join_timeout_seconds = 60.0;
  NodeTlsFiles tls;
  bool allow_insecure = false;
  double heartbeat_seconds = 1.0;
  double down_after_seconds = 5.0;
  double forget_after_seconds = 3600.0;
};

/// `state` (docs/state.md): the node's state file.
struct StateSettings {
  /// The SQLite file; empty: nothing is persisted.
  std::string path;
  /// SQLite's `synchronous`: normal survives a crash of the process, full
  /// also a power loss.
  std::string sync = "normal";
};

/// `communications` (docs/communications.md): messages to people.
struct CommunicationsSettings {
  /// The runtime's own alerts, label `alerts`.
  bool alerts = false;
  /// At most one alert per instance or node this often; a give-up always goes.
  double alerts_min_interval_seconds = 60.0;
  /// `backends`, checked (communications::validate), by name.
  std::vector<communications::BackendSettings> backends;
};

/// `cluster` (docs/cluster.md): the store that coordinates cluster
/// instances; without `store` a node has none.
struct ClusterSettings {
  /// etcd endpoints, `http://host:port` or `https://host:port`.
  std::vector<std::string> store;
  /// `cluster.store_tls`: the CA of the https endpoints, and a client
  /// certificate with its key when the store asks for one.
  std::string store_ca;
  std::string store_certificate;
  std::string store_key;
  /// Key prefix `/processpype/<name>/`.
  std::string name = "processpype";
  double lease_seconds = 5.0;

  bool enabled() const noexcept { return !store.empty(); }
};

/// One entry of `services`: an instance name, its class key and its own
/// configuration (without `type`, `placement` and `nodes`).
struct ServiceInstanceConfig {
  std::string name;
  std::string type;  ///< registry key; defaults to the instance name
  nlohmann::json configuration = nlohmann::json::object();
  /// `placement: cluster` (docs/cluster.md): one node of the cluster runs
  /// it; `nodes` are those that may (empty: every node with the class).
  bool cluster = false;
  std::vector<std::string> nodes;
};

/// The application file (docs/configuration.md; ProcessPype's keys), with
/// defaults filled in.
struct ApplicationConfig {
  AppSettings app;
  ServerSettings server;
  LoggingSettings logging;
  NodeSettings node;
  StateSettings state;
  CommunicationsSettings communications;
  ClusterSettings cluster;
  SecretsSettings secrets;
  /// The backends of `secrets` as they were read with the file: the file's
  /// references were resolved against them, and the application installs
  /// them at start (SecretStore). Null when `secrets` had a problem.
  std::shared_ptr<const SecretBackends> secret_backends;
  /// The values that the file's references brought in outside secret
  /// fields: messages about the file show `***` for them
  /// (ConfigDiagnostics::hide), the start's checks included.
  std::vector<std::string> resolved_secrets;
  /// In file order. Secret fields keep their `${secret:...}` references,
  /// resolved at each configure (docs/secrets.md).
  std::vector<ServiceInstanceConfig> services;
};

/// Reads the text of a file into `config`, recording every problem in
/// `diagnostics`: each key's value is read as its type and constraints say,
/// `${VAR}` / `${VAR:-default}` replaced from the environment first (the
/// default applies when VAR is unset or empty); plain YAML scalars are typed
/// (bool, int, float, null, string) after substitution, quoted ones and
/// those holding a `${secret:...}` reference stay strings; then the
/// `secrets` backends are read and every reference resolved, but those of
/// secret fields (docs/secrets.md); unknown keys are errors (service
/// configurations keep theirs). A key with a problem keeps its default.
void read_application_config(const std::string& text, ApplicationConfig& config,
                             ConfigDiagnostics& diagnostics);

/// The whole text of `path`, for a start and for `processpype check-config`
/// alike. Nullopt, with the reason recorded in `diagnostics` (key ""), when
/// it cannot be read or is not a regular file: a directory or /dev/null
/// would read as an empty file, a FIFO could block the start.
std::optional<std::string> read_config_file(const std::string& path,
                                            ConfigDiagnostics& diagnostics);

/// Reads `path`. Throws ApplicationConfigError with the first problem.
ApplicationConfig load_application_config(const std::string& path);

/// As load_application_config, from the text of a file.
ApplicationConfig parse_application_config(const std::string& text, const std::string& name);

/// What the Runtime makes of `communications`; unset when no backend is
/// configured (emit then does nothing, and no alert is sent).
std::optional<CommunicationsOptions> communications_options(const CommunicationsSettings& settings);

/// The JSON Schema (2020-12) of the file format, with each registered
/// class's configuration under `services` (`processpype config-schema`).
nlohmann::json application_config_schema();

/// `<file>: <key>: <message>` (`<file>: <message>` for the whole file): how
/// a problem names where it is.
std::string describe_problem(const std::string& file, const ConfigProblem& problem);

}  // namespace processpype
