#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "processpype/config/diagnostics.hpp"
#include "processpype/runtime/secrets.hpp"

namespace processpype {

/// One backend of `secrets.backends` (docs/secrets.md).
struct SecretBackendSettings {
  std::string type = "env";  ///< env, file or dotenv
  /// Put before every key looked up (and removed from listed keys).
  std::string prefix;
  /// The file of a `file` or `dotenv` backend.
  std::string path;
};

/// `secrets` (docs/secrets.md): where `${secret:backend:key}` references
/// look, and what `secrets.load` preloads.
struct SecretsSettings {
  /// `false`: no backend is read, and every reference is an error.
  bool enabled = true;
  /// ProcessPype's key, accepted for its files: every backend here is read
  /// whole at start and at SIGHUP, so there is nothing to cache.
  bool cache_enabled = true;
  std::map<std::string, SecretBackendSettings> backends;
  /// `backend:glob` declarations (`env:API_*`).
  std::vector<std::string> load;
};

/// Reads every backend of `settings` now (files are read whole, the
/// environment copied), then preloads `settings.load`. Problems go to
/// `diagnostics` under their keys: a file that cannot be read or parsed,
/// and a malformed `load` entry or one naming an unknown backend, are
/// errors; a glob that matches nothing is a warning. No text names a value.
SecretBackends read_secret_backends(const SecretsSettings& settings,
                                    ConfigDiagnostics& diagnostics);

/// The `load` entries whose glob matches no key of `backends`.
std::vector<std::string> unmatched_preloads(const SecretsSettings& settings,
                                            const SecretBackends& backends);

/// A dotenv file's keys and values, in the dialect docs/secrets.md
/// describes: `KEY=value` lines, `export ` stripped, blank lines and `#`
/// comments skipped, one pair of surrounding quotes removed (`"..."` with
/// `\n`, `\t`, `\r`, `\\` and `\"` escapes, `'...'` as is). Throws
/// std::runtime_error naming the line number (never its text).
std::map<std::string, std::string> parse_dotenv(std::string_view text);

/// A `file` backend's YAML: a mapping of key to scalar, each value's text
/// with `${VAR}` / `${VAR:-default}` replaced from the environment (as in
/// the application file), an empty value being "". Throws
/// std::runtime_error naming the key or line (never a value).
std::map<std::string, std::string> parse_secrets_yaml(const std::string& text);

}  // namespace processpype
