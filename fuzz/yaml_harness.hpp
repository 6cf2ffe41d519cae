#pragma once

// The application configuration file (fuzz_yaml and tests/regression):
// parse_application_config(text, "fuzz") must either return a configuration
// that keeps the documented shape or throw ApplicationConfigError naming the
// file. Any other exception escapes to the caller (a finding).

#include <cstdlib>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "processpype/config/application_config.hpp"
#include "processpype/runtime/json_input.hpp"

namespace processpype::fuzz {

/// Variables the seeds use in `${VAR}` / `${VAR:-default}` (and one that is
/// set but empty, so its default applies). PROCESSPYPE_FUZZ_UNSET is never set.
inline void set_yaml_environment() {
  ::setenv("PROCESSPYPE_FUZZ_HOST", "0.0.0.0", 1);
  ::setenv("PROCESSPYPE_FUZZ_PORT", "8080", 1);
  ::setenv("PROCESSPYPE_FUZZ_TOKEN", "s3cret-token", 1);
  ::setenv("PROCESSPYPE_FUZZ_EMPTY", "", 1);
  ::setenv("PROCESSPYPE_FUZZ_BRACES", "${PROCESSPYPE_FUZZ_HOST}", 1);
  ::setenv("PROCESSPYPE_FUZZ_LIST", "[1, 2, {a: b}]", 1);
  ::setenv("PROCESSPYPE_FUZZ_NUMBER", "1e3", 1);
  ::unsetenv("PROCESSPYPE_FUZZ_UNSET");
}

/// What is wrong with how `text` is handled, if anything.
inline std::optional<std::string> check_application_config(const std::string& text) {
  ApplicationConfig config;
  try {
    config = parse_application_config(text, "fuzz");
  } catch (const ApplicationConfigError& error) {
    if (std::string{error.what()}.rfind("fuzz: ", 0) != 0)
      return std::string{"ApplicationConfigError not naming the file: "} + error.what();
    return std::nullopt;
  }
  // The documented shape of a loaded configuration.
  const auto& limits = config.server.http.limits;
  if (limits.max_body_bytes < 1 || limits.max_header_bytes < 1 || limits.max_url_bytes < 1 ||
      limits.max_connections < 1 || config.server.max_instances < 1 ||
      config.server.http.api.max_event_streams < 1)
    return "a limit below 1";
  const auto& node = config.node;
  if (!(limits.read_timeout_seconds > 0) || !(config.server.closing_timeout_seconds > 0) ||
      !(node.heartbeat_seconds > 0) || !(node.down_after_seconds > 0) ||
      !(node.forget_after_seconds > 0))
    return "a duration not greater than 0";
  const auto& auth = config.server.auth;
  if (auth.admin_token && auth.admin_token->empty()) return "an empty admin token";
  if (auth.read_token && auth.read_token->empty()) return "an empty read token";
  const auto& tls = config.server.http.tls;
  if (tls.certificate.empty() != tls.key.empty())
    return "server TLS with only one of certificate and key";
  if (node.tls.certificate.empty() != node.tls.key.empty())
    return "node TLS with only one of certificate and key";
  for (const auto& service : config.services) {
    if (!service.configuration.is_object())
      return "the configuration of " + service.name + " is not an object";
    if (service.configuration.contains("type"))
      return "the configuration of " + service.name + " still holds 'type'";
    if (!json_depth_within(service.configuration))
      return "the configuration of " + service.name + " is nested too deep";
    (void)service.configuration.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  return std::nullopt;
}

}  // namespace processpype::fuzz
