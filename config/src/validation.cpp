#include "processpype/config/validation.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <fmt/format.h>

#include "processpype/actors/node_directory.hpp"
#include "processpype/runtime/configuration.hpp"
#include "processpype/runtime/dependencies.hpp"
#include "processpype/runtime/secrets.hpp"
#include "processpype/runtime/service_registry.hpp"

namespace processpype {

namespace {

/// What the dependency check needs of each instance that will exist.
struct PlannedInstance {
  std::vector<std::string> depends_on;
  bool enabled = true;
};

using Plan = std::unordered_map<std::string, PlannedInstance>;

/// Checks one instance of `services` as its class reads it; adds it to
/// `plan` when its configuration holds.
void check_instance(const ServiceInstanceConfig& instance, const SecretBackends* secrets,
                    Plan& plan, ConfigDiagnostics& diagnostics) {
  auto key = fmt::format("services.{}", instance.name);
  if (!is_valid_instance_name(instance.name)) {
    diagnostics.error(key, "invalid instance name: use 1-64 characters of [A-Za-z0-9_.-]");
    return;
  }
  auto service_class = ServiceClassRegistry::global().find(instance.type);
  if (!service_class) {
    auto suggestion = closest_name(instance.type, ServiceClassRegistry::global().keys());
    diagnostics.error(key + ".type",
                      fmt::format("unknown service type '{}'{}", instance.type,
                                  suggestion.empty() ? "" : " (did you mean " + suggestion + "?)"));
    return;
  }
  auto configuration = service_class->create(instance.name)->create_configuration();
  // Secret fields are checked with their references resolved, as the
  // configure at start will (a reference that fails was reported already).
  auto resolved = instance.configuration;
  if (secrets != nullptr) {
    try {
      resolved = prepare_configuration(*configuration, resolved, nlohmann::json::object(), *secrets)
                     .resolved;
    } catch (const ConfigurationError&) {
      return;
    }
  }
  auto problems = configuration->problems(resolved);
  for (const auto& problem : problems)
    diagnostics.error(problem.field().empty() ? key : key + "." + problem.field(),
                      problem.reason());
  auto known = configuration->field_names();
  for (const auto& [field, value] : instance.configuration.items()) {
    if (std::find(known.begin(), known.end(), field) != known.end()) continue;
    auto suggestion = closest_name(field, known);
    diagnostics.warning(key + "." + field,
                        suggestion.empty()
                            ? "unknown field, kept"
                            : fmt::format("unknown field, kept (did you mean {}?)", suggestion));
  }
  if (problems.empty()) plan[instance.name] = {configuration->depends_on, configuration->enabled};
}

void check_services(const ApplicationConfig& config,
                    const std::vector<std::string>& enabled_services,
                    ConfigDiagnostics& diagnostics) {
  Plan plan;
  for (const auto& instance : config.services)
    check_instance(instance, config.secret_backends.get(), plan, diagnostics);
  for (const auto& key : enabled_services) {
    if (!ServiceClassRegistry::global().find(key))
      diagnostics.error("ENABLED_SERVICES", fmt::format("unknown service type '{}'", key));
    else
      plan.try_emplace(key, PlannedInstance{});
  }
  // Started at startup: the enabled instances of the file, then
  // ENABLED_SERVICES. An instance whose configuration failed is known by
  // name (a dependency on it is not "unknown"), its own problems reported.
  std::vector<std::string> roots;
  for (const auto& instance : config.services)
    if (auto planned = plan.find(instance.name);
        !instance.cluster && planned != plan.end() && planned->second.enabled)
      roots.push_back(instance.name);
  for (const auto& key : enabled_services)
    if (plan.count(key) != 0 && std::find(roots.begin(), roots.end(), key) == roots.end())
      roots.push_back(key);
  for (const auto& instance : config.services)
    plan.try_emplace(instance.name, PlannedInstance{{}, false});
  auto order = order_along(roots, [&](const std::string& name) {
    auto found = plan.find(name);
    return found == plan.end() ? nullptr : &found->second.depends_on;
  });
  if (order.cycle)
    diagnostics.error("services", fmt::format("dependency cycle {}", describe_cycle(*order.cycle)));
  for (const auto& unknown : order.unknown)
    diagnostics.error("services", fmt::format("depends_on names unknown instance '{}'", unknown));
}

void check_node(const ApplicationConfig& config, ConfigDiagnostics& diagnostics) {
  const auto& node = config.node;
  for (const auto& peer : node.join)
    if (!parse_node_address(peer))
      diagnostics.error("node.join", fmt::format("'{}' is not a node address (HOST:PORT)", peer));
  if (node.tls.enabled() || !node.tls.ca.empty()) {
    try {
      Runtime::check_node_tls_files(node.tls);
    } catch (const Error& error) {
      diagnostics.error("node.tls", error.detail());
    }
  }
  if (node.port && !node.tls.enabled() && !node.allow_insecure && !is_loopback(node.host))
    diagnostics.error("node.host",
                      fmt::format("refusing to publish the node port on {} without node.tls; set "
                                  "node.allow_insecure: true to override",
                                  node.host));
}

/// Cluster instances need a store, and cannot take part in dependencies
/// (docs/cluster.md).
void check_cluster(const ApplicationConfig& config, ConfigDiagnostics& diagnostics) {
  const auto& cluster = config.cluster;
  for (const auto& endpoint : cluster.store)
    if (!endpoint.starts_with("http://") && !endpoint.starts_with("https://"))
      diagnostics.error("cluster.store",
                        fmt::format("'{}' must start with http:// or https://", endpoint));
  // The same checks as the etcd client's at start (docs/cluster.md).
  if (cluster.store_certificate.empty() != cluster.store_key.empty())
    diagnostics.error("cluster.store_tls", "the client certificate and its key go together");
  for (const auto& [path, what] :
       {std::pair{&cluster.store_ca, "CA"}, std::pair{&cluster.store_certificate, "certificate"},
        std::pair{&cluster.store_key, "key"}})
    if (!path->empty() && ::access(path->c_str(), R_OK) != 0)
      diagnostics.error("cluster.store_tls",
                        fmt::format("etcd TLS {} {} cannot be read", what, *path));
  if (cluster.enabled() && config.node.id.empty())
    diagnostics.warning("node.id",
                        "unset with cluster.store: the id follows the node port, and "
                        "cluster instances' `nodes` name ids");
  std::unordered_set<std::string> cluster_names;
  for (const auto& instance : config.services) {
    if (!instance.cluster) continue;
    cluster_names.insert(instance.name);
    auto key = fmt::format("services.{}", instance.name);
    if (!cluster.enabled())
      diagnostics.error(key + ".placement", "cluster placement needs cluster.store");
    if (instance.configuration.contains("depends_on"))
      diagnostics.error(key + ".depends_on", "a cluster instance cannot have dependencies");
  }
  for (const auto& instance : config.services) {
    auto depends_on = instance.configuration.find("depends_on");
    if (depends_on == instance.configuration.end() || !depends_on->is_array()) continue;
    for (const auto& dependency : *depends_on)
      if (dependency.is_string() && cluster_names.count(dependency.get<std::string>()) != 0)
        diagnostics.error(fmt::format("services.{}.depends_on", instance.name),
                          fmt::format("'{}' is a cluster instance: it cannot be a dependency",
                                      dependency.get<std::string>()));
  }
}

void check_auth(ApplicationConfig& config, ConfigDiagnostics& diagnostics) {
  auto& auth = config.server.auth;
  auto read_file = [&](const std::string& path, const char* what,
                       std::optional<std::string>& token) {
    if (path.empty()) return;
    try {
      token = read_token_file(path, what);
    } catch (const ApplicationConfigError& error) {
      diagnostics.error(what, error.what());
    }
  };
  read_file(auth.admin_token_file, "--admin-token-file", auth.admin_token);
  read_file(auth.read_token_file, "--read-token-file", auth.read_token);
  if (auth.read_token && !auth.admin_token)
    diagnostics.error("server.auth.read_token",
                      "a read token needs an admin token (server.auth.admin_token)");
  const auto& host = config.server.http.host;
  if (!auth.admin_token && !auth.allow_anonymous && !is_loopback(host))
    diagnostics.error("server.host",
                      fmt::format("refusing to serve {} without server.auth.admin_token; set "
                                  "server.auth.allow_anonymous: true to override",
                                  host));
  config.server.http.api.tokens = {auth.admin_token.value_or(""), auth.read_token.value_or("")};
}

void check_server_tls(const ApplicationConfig& config, ConfigDiagnostics& diagnostics) {
  if (!config.server.http.tls.enabled()) return;
  try {
    rest::check_tls_files(config.server.http.tls);
  } catch (const rest::TlsError& error) {
    diagnostics.error("server.tls", error.what());
  }
}

}  // namespace

void validate_application_config(ApplicationConfig& config,
                                 const std::vector<std::string>& enabled_services,
                                 ConfigDiagnostics& diagnostics) {
  check_services(config, enabled_services, diagnostics);
  check_node(config, diagnostics);
  check_cluster(config, diagnostics);
  check_auth(config, diagnostics);
  check_server_tls(config, diagnostics);
}

std::vector<std::string> parse_comma_list(const char* value) {
  std::vector<std::string> keys;
  if (value == nullptr) return keys;
  std::string_view text{value};
  while (!text.empty()) {
    auto comma = text.find(',');
    auto entry = text.substr(0, comma);
    auto first = entry.find_first_not_of(" \t");
    if (first != std::string_view::npos)
      keys.emplace_back(entry.substr(first, entry.find_last_not_of(" \t") - first + 1));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return keys;
}

std::string read_token_file(const std::string& path, const std::string& what) {
  std::ifstream file{path};
  if (!file) throw ApplicationConfigError(fmt::format("{} {}: cannot read the file", what, path));
  std::stringstream content;
  content << file.rdbuf();
  auto token = content.str();
  auto first = token.find_first_not_of(" \t\r\n");
  if (first == std::string::npos)
    throw ApplicationConfigError(fmt::format("{} {}: the file is empty", what, path));
  return token.substr(first, token.find_last_not_of(" \t\r\n") - first + 1);
}

bool is_loopback(const std::string& host) {
  if (host == "localhost") return true;
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0) return false;
  bool loopback = true;
  for (auto* entry = found; entry != nullptr; entry = entry->ai_next) {
    if (entry->ai_family == AF_INET) {
      auto address = ntohl(reinterpret_cast<sockaddr_in*>(entry->ai_addr)->sin_addr.s_addr);
      loopback = loopback && (address >> 24) == 127;
    } else if (entry->ai_family == AF_INET6) {
      const auto& address = reinterpret_cast<sockaddr_in6*>(entry->ai_addr)->sin6_addr;
      loopback = loopback && IN6_IS_ADDR_LOOPBACK(&address);
    } else {
      loopback = false;
    }
  }
  freeaddrinfo(found);
  return loopback;
}

}  // namespace processpype
