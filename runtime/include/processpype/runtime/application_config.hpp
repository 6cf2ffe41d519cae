#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
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

/// The application file of SPEC 3 (ProcessPype's keys), defaults filled in.
struct ApplicationConfig {
  std::string title = "ProcessPype";
  std::string version;
  std::string environment = "development";
  bool debug = false;

  std::string host = "127.0.0.1";
  std::uint16_t port = 8000;
  std::string api_prefix;
  double closing_timeout_seconds = 60.0;

  std::string log_level = "info";
  LogFormat log_format = LogFormat::text;

  /// Distribution (SPEC 7): publish on node_port when set; join peers.
  std::optional<std::uint16_t> node_port;
  std::string node_host = "127.0.0.1";
  std::string node_id;
  std::vector<std::string> join;

  /// In file order.
  std::vector<ServiceInstanceConfig> services;
};

/// Reads `path`. Every scalar first gets `${VAR}` / `${VAR:-default}`
/// replaced from the environment (the default applies when VAR is unset or
/// empty); an unset VAR without default is an error. Plain YAML scalars are
/// typed (bool, int, float, null, string) after substitution; quoted ones
/// stay strings. Throws ApplicationConfigError.
ApplicationConfig load_application_config(const std::string& path);

/// Replaces `${VAR}` and `${VAR:-default}` in `text`. Throws
/// ApplicationConfigError naming the variable when it is unset.
std::string substitute_environment(std::string_view text);

/// "debug" → spdlog level; nullopt when unknown.
std::optional<spdlog::level::level_enum> log_level_from_string(std::string_view text) noexcept;

}  // namespace processpype
