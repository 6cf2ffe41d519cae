// processpype: the ProcessPype server (docs/configuration.md lists its
// flags, keys and environment variables).
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "application.hpp"
#include "config_commands.hpp"
#include "processpype/config/validation.hpp"
#include "processpype/ctl/ctl.hpp"
#include "processpype/version.hpp"

namespace {

/// The flags that stand for keys of the configuration file
/// (docs/configuration.md, "Flags"). A start and check-config apply them
/// the same way, so that check-config checks what the start would run.
struct FlagOverrides {
  std::optional<std::string> host, api_prefix, log_level, log_format, node_host, node_id, node_cert,
      node_key, node_ca, admin_token_file, read_token_file, state_path, cluster_store;
  std::optional<std::uint16_t> port, node_port;
  std::vector<std::string> join;

  void add_to(CLI::App& cli) {
    cli.add_option("--host", host, "HTTP address (default 127.0.0.1)");
    cli.add_option("--port", port, "HTTP port (default 8000)");
    cli.add_option("--api-prefix", api_prefix, "Prefix of every REST path");
    // Refused as the flags are parsed, so that check-config refuses it as
    // the start does (docs/configuration.md, "Checking a file").
    cli.add_option("--log-level", log_level, "trace, debug, info, warning, error, critical")
        ->check([](const std::string& level) {
          return processpype::log_level_from_string(level) ? std::string{}
                                                           : "unknown level '" + level + "'";
        });
    cli.add_option("--log-format", log_format, "text or json")
        ->check(CLI::IsMember({"text", "json"}));
    cli.add_option("--node-port", node_port, "Publish this node for other nodes on this port");
    cli.add_option("--node-host", node_host, "Address of the node port (default 127.0.0.1)");
    cli.add_option("--node-id", node_id, "Node id (default <hostname>:<node-port>)");
    cli.add_option("--join", join, "HOST:PORT of a node to join (repeatable)");
    cli.add_option("--node-cert", node_cert,
                   "PEM certificate of this node, for TLS between nodes (node.tls.certificate)");
    cli.add_option("--node-key", node_key, "PEM key of --node-cert (node.tls.key)");
    cli.add_option("--node-ca", node_ca,
                   "PEM CA that signs every node's certificate (node.tls.ca)");
    cli.add_option("--admin-token-file", admin_token_file,
                   "File holding the admin token (server.auth.admin_token)");
    cli.add_option("--read-token-file", read_token_file,
                   "File holding the read token (server.auth.read_token)");
    cli.add_option(
        "--cluster-store", cluster_store,
        "etcd endpoints URL[,URL] of the cluster store (cluster.store; docs/cluster.md)");
    cli.add_option("--state", state_path, "The node's state file (state.path; docs/state.md)");
  }

  void apply(processpype::ApplicationConfig& config) const {
    auto& http = config.server.http;
    auto& node = config.node;
    if (host) http.host = *host;
    if (port) http.port = *port;
    if (api_prefix) http.api.api_prefix = *api_prefix;
    if (log_level) config.logging.level = *log_level;
    if (log_format) config.logging.format = *processpype::log_format_from_string(*log_format);
    if (node_port) node.port = *node_port;
    if (node_host) node.host = *node_host;
    if (node_id) node.id = *node_id;
    node.join.insert(node.join.end(), join.begin(), join.end());
    if (node_cert) node.tls.certificate = *node_cert;
    if (node_key) node.tls.key = *node_key;
    if (node_ca) node.tls.ca = *node_ca;
    if (admin_token_file) config.server.auth.admin_token_file = *admin_token_file;
    if (read_token_file) config.server.auth.read_token_file = *read_token_file;
    if (state_path) config.state.path = *state_path;
    if (cluster_store) config.cluster.store = processpype::parse_comma_list(cluster_store->c_str());
  }
};

}  // namespace

int main(int argc, char** argv) {
  // `processpype ctl ...` is the client (docs/cli.md): no server flags, no actors.
  if (argc > 1 && std::string_view(argv[1]) == "ctl")
    return processpype::ctl::run(argc - 1, argv + 1);
  CLI::App cli{"ProcessPype: an actor-model runtime for long-running services", "processpype"};
  std::optional<std::string> config_file;
  FlagOverrides flags;
  bool show_version = false;
  bool reset_state = false;
  cli.add_option("--config", config_file, "YAML configuration file");
  flags.add_to(cli);
  cli.add_flag("--reset-state", reset_state,
               "Empty the state file and start from the configuration file alone");
  cli.add_flag("--version", show_version, "Print the version and exit");
  std::string checked_file;
  auto* check_config = cli.add_subcommand(
      "check-config", "Check a configuration file as a start would; report every problem");
  check_config->add_option("file", checked_file, "The YAML file")->required();
  auto* config_schema =
      cli.add_subcommand("config-schema", "Print the JSON Schema of the configuration file");
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return cli.exit(error) == 0 ? 0 : 2;
  }
  if (show_version) {
    std::cout << "processpype " << PROCESSPYPE_VERSION << "\n";
    return 0;
  }
  if (*check_config)
    return processpype::check_config_command(
        checked_file, std::cout,
        [&](processpype::ApplicationConfig& config) { flags.apply(config); });
  if (*config_schema) return processpype::config_schema_command(std::cout);

  processpype::ApplicationConfig config;
  config.app.version = PROCESSPYPE_VERSION;
  std::vector<std::string> enabled_services;
  try {
    if (config_file) {
      config = processpype::load_application_config(*config_file);
      if (config.app.version.empty()) config.app.version = PROCESSPYPE_VERSION;
    }
    flags.apply(config);
    // Every level was checked as it was read: the file's keys by the file's
    // reader, --log-level by its option.
    auto level = processpype::log_level_from_string(config.logging.level);
    std::vector<processpype::LoggerLevel> logger_levels;
    for (const auto& [name, logger_level] : config.logging.loggers)
      logger_levels.emplace_back(name, *processpype::log_level_from_string(logger_level));
    processpype::configure_logging(*level, config.logging.format, std::move(logger_levels));
    enabled_services = processpype::parse_comma_list(std::getenv("ENABLED_SERVICES"));
  } catch (const processpype::ApplicationConfigError& error) {
    std::cerr << "processpype: " << error.what() << "\n";
    return 2;
  }

  processpype::Application application{std::move(config), std::move(enabled_services), reset_state};
  try {
    application.validate();
  } catch (const processpype::ApplicationConfigError& error) {
    // One line naming the file and the key, as a problem of reading it
    // (docs/configuration.md).
    std::cerr << "processpype: " << (config_file ? *config_file + ": " : "") << error.what()
              << "\n";
    return 2;
  }
  processpype::block_application_signals();
  return application.run();
}
