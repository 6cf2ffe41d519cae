#pragma once

#include <string>
#include <vector>

#include "processpype/config/application_config.hpp"
#include "processpype/config/diagnostics.hpp"

namespace processpype {

/// Checks everything a start checks before anything starts, and records
/// every problem: instance names, service types, each invalid field of a
/// configuration (unknown fields are warnings, with a "did you mean"),
/// dependencies (unknown names, cycles), ENABLED_SERVICES keys, `--join`
/// addresses, node TLS files and a node port beyond loopback without TLS,
/// tokens (the token files are read into `config.server.auth`), a host
/// beyond loopback without an admin token, and the server's TLS files.
/// The start refuses the file on the first error; `processpype
/// check-config` prints them all (docs/configuration.md).
void validate_application_config(ApplicationConfig& config,
                                 const std::vector<std::string>& enabled_services,
                                 ConfigDiagnostics& diagnostics);

/// " a, b,," → {"a", "b"}: a comma-separated list (ENABLED_SERVICES,
/// --cluster-store), trimmed, empty entries dropped; none for null.
std::vector<std::string> parse_comma_list(const char* value);

/// The content of a token file, trimmed; throws ApplicationConfigError
/// when the file is missing or empty. `what` names the file's role.
std::string read_token_file(const std::string& path, const std::string& what);

/// Whether `host` only reaches this machine: a loopback address or
/// `localhost`.
bool is_loopback(const std::string& host);

}  // namespace processpype
