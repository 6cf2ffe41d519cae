// The secrets backends of the application file (docs/secrets.md): `env`,
// `file` (YAML) and `dotenv`, read whole at start and at each SIGHUP.
#include "processpype/config/secrets.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "yaml_tree.hpp"

namespace processpype {

namespace {

std::string_view trim(std::string_view text) {
  auto first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t\r") - first + 1);
}

/// `"..."` with its escapes undone; `'...'` as is; anything else unchanged.
std::string unquote(std::string_view value) {
  if (value.size() < 2 || value.front() != value.back() ||
      (value.front() != '"' && value.front() != '\''))
    return std::string{value};
  bool double_quoted = value.front() == '"';
  value = value.substr(1, value.size() - 2);
  if (!double_quoted) return std::string{value};
  std::string text;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '\\' || i + 1 == value.size()) {
      text += value[i];
      continue;
    }
    switch (value[++i]) {
      case 'n':
        text += '\n';
        break;
      case 't':
        text += '\t';
        break;
      case 'r':
        text += '\r';
        break;
      case '\\':
        text += '\\';
        break;
      case '"':
        text += '"';
        break;
      default:  // not an escape: kept as written
        text += '\\';
        text += value[i];
    }
  }
  return text;
}

/// `export KEY=...` → `KEY=...`.
std::string_view without_export(std::string_view line) {
  constexpr std::string_view keyword = "export";
  if (line.size() > keyword.size() && line.starts_with(keyword) &&
      (line[keyword.size()] == ' ' || line[keyword.size()] == '\t'))
    return trim(line.substr(keyword.size()));
  return line;
}

bool is_backend_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '.' || c == '-';
  });
}

/// Secrets files are small: a larger one is a mistake (or /dev/zero).
constexpr std::size_t largest_secrets_file = 1 << 20;

/// The whole file; a device or FIFO, which could block or never end, is refused.
std::string contents_of(const std::string& path) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error))
    throw std::runtime_error(error || !std::filesystem::exists(path, error)
                                 ? "cannot read the file"
                                 : "is not a regular file");
  std::ifstream file{path, std::ios::binary};
  if (!file) throw std::runtime_error("cannot read the file");
  std::string text(largest_secrets_file + 1, '\0');
  file.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (file.bad()) throw std::runtime_error("cannot read the file");
  text.resize(static_cast<std::size_t>(file.gcount()));
  if (text.size() > largest_secrets_file) throw std::runtime_error("is larger than 1 MiB");
  return text;
}

std::shared_ptr<const SecretBackend> read_backend(const SecretBackendSettings& settings) {
  if (settings.type == "env") return SecretValues::environment();
  if (settings.type == "file") {
    if (settings.path.empty()) throw std::runtime_error("a file backend needs a path");
    try {
      return std::make_shared<const SecretValues>(parse_secrets_yaml(contents_of(settings.path)));
    } catch (const std::runtime_error& error) {
      throw std::runtime_error(fmt::format("{}: {}", settings.path, error.what()));
    }
  }
  auto path = settings.path.empty() ? std::string{".env"} : settings.path;
  try {
    return std::make_shared<const SecretValues>(parse_dotenv(contents_of(path)));
  } catch (const std::runtime_error& error) {
    throw std::runtime_error(fmt::format("{}: {}", path, error.what()));
  }
}

struct Declaration {
  std::string_view backend;
  std::string_view pattern;
};

std::optional<Declaration> parse_declaration(std::string_view declaration) {
  auto colon = declaration.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == declaration.size())
    return std::nullopt;
  return Declaration{declaration.substr(0, colon), declaration.substr(colon + 1)};
}

}  // namespace

std::map<std::string, std::string> parse_dotenv(std::string_view text) {
  std::map<std::string, std::string> values;
  std::size_t number = 0;
  while (!text.empty()) {
    ++number;
    auto end = text.find('\n');
    auto line = trim(text.substr(0, end));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (line.empty() || line.front() == '#') continue;
    line = without_export(line);
    auto equals = line.find('=');
    if (equals == std::string_view::npos)
      throw std::runtime_error(fmt::format("line {}: expected KEY=value", number));
    auto key = trim(line.substr(0, equals));
    if (key.empty() || key.find_first_of(" \t") != std::string_view::npos)
      throw std::runtime_error(fmt::format("line {}: the key before '=' must be one word", number));
    values.insert_or_assign(std::string{key}, unquote(trim(line.substr(equals + 1))));
  }
  return values;
}

std::map<std::string, std::string> parse_secrets_yaml(const std::string& text) {
  YAML::Node document;
  try {
    document = YAML::Load(text);
  } catch (const YAML::Exception& error) {
    throw std::runtime_error(fmt::format("invalid YAML at line {}, column {}: {}",
                                         error.mark.line + 1, error.mark.column + 1, error.msg));
  }
  std::map<std::string, std::string> values;
  if (document.IsNull()) return values;
  if (!document.IsMap()) throw std::runtime_error("must be a mapping of key to value");
  for (const auto& item : document) {
    if (!item.first.IsScalar())
      throw std::runtime_error(
          fmt::format("line {}: keys must be text", item.first.Mark().line + 1));
    auto key = item.first.Scalar();
    if (values.count(key) != 0) throw std::runtime_error(fmt::format("'{}' appears twice", key));
    const auto& value = item.second;
    if (value.IsNull()) {
      values.emplace(key, "");
    } else if (value.IsScalar()) {
      try {
        values.emplace(key, substitute_environment(value.Scalar()));
      } catch (const std::runtime_error& error) {
        throw std::runtime_error(fmt::format("'{}': {}", key, error.what()));
      }
    } else {
      throw std::runtime_error(fmt::format("'{}' must be text, not a list or mapping", key));
    }
  }
  return values;
}

SecretBackends read_secret_backends(const SecretsSettings& settings,
                                    ConfigDiagnostics& diagnostics) {
  SecretBackends backends;
  if (!settings.enabled) return backends;
  for (const auto& [name, backend] : settings.backends) {
    auto key = "secrets.backends." + name;
    if (!is_backend_name(name)) {
      diagnostics.error(key, "a backend name is letters, digits, '_', '.' and '-'");
      continue;
    }
    try {
      backends.set(name, read_backend(backend), backend.prefix);
    } catch (const std::runtime_error& error) {
      diagnostics.error(key, error.what());
    }
  }
  for (std::size_t i = 0; i < settings.load.size(); ++i) {
    auto key = fmt::format("secrets.load.{}", i);
    const auto& text = settings.load[i];
    auto declaration = parse_declaration(text);
    if (!declaration) {
      diagnostics.error(key, fmt::format("'{}' is not backend:glob (e.g. env:API_*)", text));
      continue;
    }
    if (!backends.contains(declaration->backend)) {
      if (settings.backends.count(std::string{declaration->backend}) == 0)
        diagnostics.error(
            key, fmt::format("'{}': no secrets backend named '{}'", text, declaration->backend));
      continue;  // else it could not be read, and says so
    }
    if (backends.preload(declaration->backend, declaration->pattern) == 0)
      diagnostics.warning(key, fmt::format("'{}' matches no secret", text));
  }
  return backends;
}

std::vector<std::string> unmatched_preloads(const SecretsSettings& settings,
                                            const SecretBackends& backends) {
  std::vector<std::string> unmatched;
  for (const auto& text : settings.load) {
    auto declaration = parse_declaration(text);
    if (declaration && backends.contains(declaration->backend) &&
        backends.matching(declaration->backend, declaration->pattern).empty())
      unmatched.push_back(text);
  }
  return unmatched;
}

}  // namespace processpype
