#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "processpype/runtime/logging.hpp"

namespace processpype {

/// A configuration file that cannot be used: bad YAML, an unset `${VAR}`,
/// a value of the wrong type. what() is one line naming file and key.
class ApplicationConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One entry of `services`: an instance name, its class key and its own
/// configuration (without `type`).
struct ServiceInstanceConfig {
  std::string name;
  std::string type;  ///< registry key; defaults to the instance name
  nlohmann::json configuration = nlohmann::json::object();
};

/// The limits of the HTTP server (docs/configuration.md, `server.limits`).
struct ServerLimits {
  std::size_t max_body_bytes = 1024 * 1024;
  std::size_t max_header_bytes = 64 * 1024;
  std::size_t max_url_bytes = 8192;
  std::size_t max_connections = 1024;
  std::size_t max_instances = 100000;
  double read_timeout_seconds = 10.0;
  std::size_t max_event_streams = 64;
};

/// Bearer tokens of the REST API (`server.auth`); off while admin_token is
/// empty. A token comes from the file (`--admin-token-file`) when set.
struct AuthSettings {
  std::optional<std::string> admin_token;
  std::optional<std::string> read_token;
  std::string admin_token_file;
  std::string read_token_file;
  bool allow_anonymous = false;
};

/// PEM files for TLS. For REST, `ca` is `client_ca` (client certificates
/// are required when set); between nodes, it is the cluster CA.
struct TlsFiles {
  std::string certificate;
  std::string key;
  std::string ca;

  bool enabled() const noexcept { return !certificate.empty() || !key.empty(); }
};

/// The application file (docs/configuration.md; ProcessPype's keys), with
/// defaults filled in.
struct ApplicationConfig {
  std::string title = "ProcessPype";
  std::string version;
  std::string environment = "development";
  bool debug = false;

  std::string host = "127.0.0.1";
  std::uint16_t port = 8000;
  std::string api_prefix;
  double closing_timeout_seconds = 60.0;
  ServerLimits limits;
  AuthSettings auth;
  TlsFiles tls;
  /// `server.metrics`: count requests for /metrics (off only to measure
  /// what counting costs).
  bool collect_metrics = true;

  std::string log_level = "info";
  LogFormat log_format = LogFormat::text;
  /// `logging.loggers`: a level per logger name.
  std::vector<std::pair<std::string, std::string>> loggers;
  bool access_log = false;

  /// Distribution: publish on node_port when set; join peers.
  std::optional<std::uint16_t> node_port;
  std::string node_host = "127.0.0.1";
  std::string node_id;
  std::vector<std::string> join;
  TlsFiles node_tls;
  bool node_allow_insecure = false;
  double heartbeat_seconds = 1.0;
  double down_after_seconds = 5.0;
  double forget_after_seconds = 3600.0;

  /// In file order.
  std::vector<ServiceInstanceConfig> services;
};

/// Reads `path`. Every scalar first gets `${VAR}` / `${VAR:-default}`
/// replaced from the environment (the default applies when VAR is unset or
/// empty); an unset VAR without default is an error. Plain YAML scalars are
/// typed (bool, int, float, null, string) after substitution; quoted ones
/// stay strings. Throws ApplicationConfigError.
ApplicationConfig load_application_config(const std::string& path);

/// As load_application_config, from the text of a file; `name` names it in
/// errors.
ApplicationConfig parse_application_config(const std::string& text, const std::string& name);

/// Replaces `${VAR}` and `${VAR:-default}` in `text`. Throws
/// ApplicationConfigError naming the variable when it is unset.
std::string substitute_environment(std::string_view text);

}  // namespace processpype
