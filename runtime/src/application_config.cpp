#include "processpype/runtime/application_config.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "processpype/runtime/json_input.hpp"

namespace processpype {

namespace {

using nlohmann::json;

/// Where a value came from, for error messages: "app.yaml: server.port".
struct Location {
  const std::string& file;
  std::string key;

  Location child(std::string_view name) const {
    return {file, key.empty() ? std::string{name} : key + "." + std::string{name}};
  }
  [[noreturn]] void fail(std::string_view reason) const {
    throw ApplicationConfigError(
        fmt::format("{}: {}: {}", file, key.empty() ? "(top)" : key, reason));
  }
};

/// `text` as a T when all of it is one (an optional leading '+' allowed);
/// an integer out of int64's range is not an integer.
template <class T>
std::optional<T> parse_whole(std::string_view text) {
  bool plus = text.starts_with('+');  // from_chars takes '-' only
  if (plus) text.remove_prefix(1);
  if (plus && text.starts_with('-')) return std::nullopt;
  T value{};
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  if constexpr (std::is_floating_point_v<T>)
    if (!std::isfinite(value)) return std::nullopt;  // "inf", "nan" stay strings
  return value;
}

/// A scalar after substitution, typed like YAML's core schema unless quoted.
json scalar_to_json(const YAML::Node& node, const Location& where) {
  std::string text;
  try {
    text = substitute_environment(node.Scalar());
  } catch (const ApplicationConfigError& error) {
    where.fail(error.what());
  }
  if (node.Tag() == "!") return text;  // quoted: always a string
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL")
    return nullptr;
  if (auto integer = parse_whole<std::int64_t>(text)) return *integer;
  if (auto number = parse_whole<double>(text)) return *number;
  return text;
}

/// What a file may expand to. YAML aliases repeat a node without repeating
/// its text: an alias inside its own anchor is a node that contains itself,
/// and nested aliases multiply (a few lines can stand for billions of nodes).
struct ExpansionBudget {
  std::size_t nodes_left = 100'000;
};

json to_json(const YAML::Node& node, const Location& where, ExpansionBudget& budget,
             std::size_t depth = 0) {
  if (depth > max_json_depth)
    where.fail(fmt::format("nested deeper than {} levels (an alias inside its own anchor?)",
                           max_json_depth));
  if (budget.nodes_left-- == 0)
    where.fail("expands to more than 100000 values (aliases that repeat each other?)");
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      return scalar_to_json(node, where);
    case YAML::NodeType::Sequence: {
      auto array = json::array();
      for (std::size_t i = 0; i < node.size(); ++i)
        array.push_back(to_json(node[i], where.child(std::to_string(i)), budget, depth + 1));
      return array;
    }
    case YAML::NodeType::Map: {
      auto object = json::object();
      for (const auto& item : node) {
        auto key = item.first.as<std::string>();
        // yaml-cpp keeps both of two equal keys; which one a reader sees
        // would depend on the reader.
        if (object.contains(key)) where.child(key).fail("appears twice");
        object[key] = to_json(item.second, where.child(key), budget, depth + 1);
      }
      return object;
    }
  }
  return nullptr;
}

const json* member(const json& object, const char* key) {
  auto found = object.find(key);
  return found == object.end() || found->is_null() ? nullptr : &*found;
}

std::string read_string(const json& object, const char* key, const Location& where,
                        std::string fallback) {
  auto* value = member(object, key);
  if (value == nullptr) return fallback;
  if (value->is_string()) return value->get<std::string>();
  if (value->is_number() || value->is_boolean()) return value->dump();
  where.child(key).fail("must be a string");
}

bool read_bool(const json& object, const char* key, const Location& where, bool fallback) {
  auto* value = member(object, key);
  if (value == nullptr) return fallback;
  if (!value->is_boolean()) where.child(key).fail("must be true or false");
  return value->get<bool>();
}

double read_number(const json& object, const char* key, const Location& where, double fallback) {
  auto* value = member(object, key);
  if (value == nullptr) return fallback;
  if (!value->is_number()) where.child(key).fail("must be a number");
  return value->get<double>();
}

std::uint16_t read_port(const json& object, const char* key, const Location& where,
                        std::uint16_t fallback) {
  auto* value = member(object, key);
  if (value == nullptr) return fallback;
  if (!value->is_number_integer() || value->get<std::int64_t>() < 0 ||
      value->get<std::int64_t>() > 65535)
    where.child(key).fail("must be a port number (0-65535)");
  return static_cast<std::uint16_t>(value->get<std::int64_t>());
}

std::size_t read_size(const json& object, const char* key, const Location& where,
                      std::size_t fallback) {
  auto* value = member(object, key);
  if (value == nullptr) return fallback;
  if (!value->is_number_integer() || value->get<std::int64_t>() < 1)
    where.child(key).fail("must be a positive integer");
  return static_cast<std::size_t>(value->get<std::int64_t>());
}

double read_positive(const json& object, const char* key, const Location& where, double fallback) {
  auto seconds = read_number(object, key, where, fallback);
  if (!(seconds > 0)) where.child(key).fail("must be greater than 0");
  // Longer overflows the milliseconds and nanoseconds of timers.
  if (seconds > 365.0 * 24 * 3600) where.child(key).fail("must be at most 31536000 (a year)");
  return seconds;
}

/// A token given in the file: present means set, and set means not empty.
std::optional<std::string> read_token(const json& object, const char* key, const Location& where) {
  auto found = object.find(key);
  if (found == object.end()) return std::nullopt;
  // `admin_token: ${EMPTY}` reads as null: an empty token, never "no token".
  auto* value = &*found;
  if (value->is_null()) where.child(key).fail("is empty (an unset or empty variable?)");
  if (!value->is_string()) where.child(key).fail("must be a string");
  auto token = value->get<std::string>();
  if (token.find_first_not_of(" \t\r\n") == std::string::npos)
    where.child(key).fail("is empty (an unset or empty variable?)");
  return token;
}

TlsFiles read_tls(const json& tls, const char* ca_key, const Location& where) {
  TlsFiles files;
  files.certificate = read_string(tls, "certificate", where, "");
  files.key = read_string(tls, "key", where, "");
  files.ca = read_string(tls, ca_key, where, "");
  if (files.certificate.empty() != files.key.empty()) where.fail("needs both certificate and key");
  return files;
}

const json& section(const json& root, const char* key, const Location& where) {
  static const json empty = json::object();
  auto* value = member(root, key);
  if (value == nullptr) return empty;
  if (!value->is_object()) where.child(key).fail("must be a mapping");
  return *value;
}

void read_app(ApplicationConfig& config, const json& app, const Location& where) {
  config.title = read_string(app, "title", where, config.title);
  config.version = read_string(app, "version", where, config.version);
  config.environment = read_string(app, "environment", where, config.environment);
  config.debug = read_bool(app, "debug", where, config.debug);
}

void read_limits(ServerLimits& limits, const json& object, const Location& where) {
  limits.max_body_bytes = read_size(object, "max_body_bytes", where, limits.max_body_bytes);
  limits.max_header_bytes = read_size(object, "max_header_bytes", where, limits.max_header_bytes);
  limits.max_url_bytes = read_size(object, "max_url_bytes", where, limits.max_url_bytes);
  limits.max_connections = read_size(object, "max_connections", where, limits.max_connections);
  limits.max_instances = read_size(object, "max_instances", where, limits.max_instances);
  limits.read_timeout_seconds =
      read_positive(object, "read_timeout_seconds", where, limits.read_timeout_seconds);
  limits.max_event_streams =
      read_size(object, "max_event_streams", where, limits.max_event_streams);
}

void read_auth(AuthSettings& auth, const json& object, const Location& where) {
  auth.admin_token = read_token(object, "admin_token", where);
  auth.read_token = read_token(object, "read_token", where);
  auth.allow_anonymous = read_bool(object, "allow_anonymous", where, auth.allow_anonymous);
}

void read_server(ApplicationConfig& config, const json& server, const Location& where) {
  config.host = read_string(server, "host", where, config.host);
  config.port = read_port(server, "port", where, config.port);
  config.api_prefix = read_string(server, "api_prefix", where, config.api_prefix);
  config.closing_timeout_seconds =
      read_positive(server, "closing_timeout_seconds", where, config.closing_timeout_seconds);
  read_limits(config.limits, section(server, "limits", where), where.child("limits"));
  read_auth(config.auth, section(server, "auth", where), where.child("auth"));
  config.tls = read_tls(section(server, "tls", where), "client_ca", where.child("tls"));
  config.collect_metrics = read_bool(server, "metrics", where, config.collect_metrics);
}

void read_logging(ApplicationConfig& config, const json& logging, const Location& where) {
  config.log_level = read_string(logging, "level", where, config.log_level);
  if (!log_level_from_string(config.log_level))
    where.child("level").fail("must be one of trace, debug, info, warning, error, critical");
  auto format = log_format_from_string(read_string(logging, "format", where, "text"));
  if (!format) where.child("format").fail("must be text or json");
  config.log_format = *format;
  auto loggers = section(logging, "loggers", where);
  for (const auto& [name, level] : loggers.items()) {
    if (!level.is_string() || !log_level_from_string(level.get<std::string>()))
      where.child("loggers").child(name).fail(
          "must be one of trace, debug, info, warning, error, critical");
    config.loggers.emplace_back(name, level.get<std::string>());
  }
  config.access_log = read_bool(logging, "access_log", where, config.access_log);
}

void read_node(ApplicationConfig& config, const json& node, const Location& where) {
  if (member(node, "port") != nullptr) config.node_port = read_port(node, "port", where, 0);
  config.node_host = read_string(node, "host", where, config.node_host);
  config.node_id = read_string(node, "id", where, config.node_id);
  if (auto* join = member(node, "join")) {
    if (!join->is_array()) where.child("join").fail("must be a list of HOST:PORT");
    for (const auto& peer : *join) {
      if (!peer.is_string()) where.child("join").fail("must be a list of HOST:PORT");
      config.join.push_back(peer.get<std::string>());
    }
  }
  config.node_tls = read_tls(section(node, "tls", where), "ca", where.child("tls"));
  config.node_allow_insecure = read_bool(node, "allow_insecure", where, config.node_allow_insecure);
  config.heartbeat_seconds =
      read_positive(node, "heartbeat_seconds", where, config.heartbeat_seconds);
  config.down_after_seconds =
      read_positive(node, "down_after_seconds", where, config.down_after_seconds);
  config.forget_after_seconds =
      read_positive(node, "forget_after_seconds", where, config.forget_after_seconds);
}

/// `services` in file order: `order` lists the instance names as the YAML
/// mapping has them (a JSON object sorts its keys).
void read_services(ApplicationConfig& config, const json& services,
                   const std::vector<std::string>& order, const Location& where) {
  for (const auto& name : order) {
    const auto& body = services.at(name);
    auto here = where.child(name);
    ServiceInstanceConfig instance{name, name, json::object()};
    if (!body.is_null()) {
      if (!body.is_object()) here.fail("must be a mapping of configuration fields");
      instance.configuration = body;
      if (auto type = instance.configuration.find("type"); type != instance.configuration.end()) {
        if (!type->is_string()) here.child("type").fail("must be a service class key");
        instance.type = type->get<std::string>();
        instance.configuration.erase(type);
      }
    }
    config.services.push_back(std::move(instance));
  }
}

}  // namespace

std::string substitute_environment(std::string_view text) {
  std::string result;
  std::size_t position = 0;
  while (true) {
    auto start = text.find("${", position);
    if (start == std::string_view::npos) break;
    auto end = text.find('}', start);
    if (end == std::string_view::npos) break;
    result.append(text.substr(position, start - position));
    auto expression = text.substr(start + 2, end - start - 2);
    auto separator = expression.find(":-");
    auto name = std::string{expression.substr(0, separator)};
    const char* value = std::getenv(name.c_str());
    if (separator != std::string_view::npos) {
      result += (value != nullptr && *value != '\0') ? std::string_view{value}
                                                     : expression.substr(separator + 2);
    } else if (value != nullptr) {
      result += value;
    } else {
      throw ApplicationConfigError(
          fmt::format("environment variable {} is not set and has no default", name));
    }
    position = end + 1;
  }
  result.append(text.substr(position));
  return result;
}

namespace {

ApplicationConfig read_document(const YAML::Node& document, const std::string& name) {
  Location root{name, ""};
  ExpansionBudget budget;
  auto tree = to_json(document, root, budget);
  if (tree.is_null()) tree = json::object();
  if (!json_depth_within(tree))
    root.fail(fmt::format("nested deeper than {} levels", max_json_depth));
  if (!tree.is_object()) root.fail("the file must be a mapping");
  ApplicationConfig config;
  read_app(config, section(tree, "app", root), root.child("app"));
  read_server(config, section(tree, "server", root), root.child("server"));
  read_logging(config, section(tree, "logging", root), root.child("logging"));
  read_node(config, section(tree, "node", root), root.child("node"));
  std::vector<std::string> order;
  // A const node's missing key is an invalid node: ask IsDefined first.
  if (auto services = document["services"]; services.IsDefined() && services.IsMap())
    for (const auto& item : services) order.push_back(item.first.as<std::string>());
  read_services(config, section(tree, "services", root), order, root.child("services"));
  return config;
}

/// Runs `read` and turns every YAML exception into one line naming `name`.
template <class Read>
ApplicationConfig translating_yaml_errors(const std::string& name, Read read) {
  try {
    return read();
  } catch (const YAML::BadFile&) {
    throw ApplicationConfigError(fmt::format("{}: cannot read the file", name));
  } catch (const YAML::Exception& error) {
    throw ApplicationConfigError(fmt::format("{}: invalid YAML at line {}, column {}: {}", name,
                                             error.mark.line + 1, error.mark.column + 1,
                                             error.msg));
  }
}

}  // namespace

ApplicationConfig load_application_config(const std::string& path) {
  return translating_yaml_errors(path, [&] { return read_document(YAML::LoadFile(path), path); });
}

ApplicationConfig parse_application_config(const std::string& text, const std::string& name) {
  return translating_yaml_errors(name, [&] { return read_document(YAML::Load(text), name); });
}

}  // namespace processpype
